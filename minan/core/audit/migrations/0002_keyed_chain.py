"""Keyed chain: rows sealed with an HMAC under a key held outside the database.

Existing rows keep their plain SHA-256 hashes and stay verifiable as legacy rows up to the boundary
recorded here (`legacy_until` = the last row at migration time). They are not re-sealed: re-hashing
them under the key would also bless any edit made before the upgrade. The first keyed row links to
the last legacy hash and the sealed head records the boundary, so from then on a database writer
without the key can no longer rewrite the legacy rows either.
"""

from django.db import migrations, models


def record_legacy_boundary(apps, schema_editor):
    Head = apps.get_model("audit", "AuditChainHead")
    Head.objects.filter(pk=1).update(legacy_until=models.F("last_id"))


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditchainhead",
            name="key_id",
            field=models.CharField(blank=True, default="", max_length=16),
        ),
        migrations.AddField(
            model_name="auditchainhead",
            name="legacy_until",
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="auditchainhead",
            name="seal",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="key_id",
            field=models.CharField(blank=True, default="", max_length=16),
        ),
        migrations.RunPython(record_legacy_boundary, migrations.RunPython.noop),
    ]

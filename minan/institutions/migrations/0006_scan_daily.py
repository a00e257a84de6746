"""Public-code scans: one row per institution and day instead of one row per request.

Existing scans of valid codes are folded into the daily rows (by Beijing date); scans of unknown,
rotated or revoked codes are not counted any more and are dropped with the old table."""

import django.db.models.deletion
from django.db import migrations, models


def fold_scans(apps, schema_editor):
    from zoneinfo import ZoneInfo

    from django.conf import settings
    from django.db.models import Count
    from django.db.models.functions import TruncDate

    CodeScan = apps.get_model("institutions", "CodeScan")
    ScanDaily = apps.get_model("institutions", "ScanDaily")
    days = (
        CodeScan.objects.filter(resolved=True, institution__isnull=False)
        .annotate(day=TruncDate("at", tzinfo=ZoneInfo(settings.TIME_ZONE)))
        .values("institution_id", "day")
        .annotate(count=Count("id"))
        .order_by()
    )
    ScanDaily.objects.bulk_create(
        [ScanDaily(institution_id=row["institution_id"], day=row["day"], count=row["count"]) for row in days],
        batch_size=1000,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("institutions", "0005_policy_expiry_reminder"),
    ]

    operations = [
        migrations.CreateModel(
            name="ScanFlush",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("through", models.BigIntegerField(default=0)),
            ],
        ),
        migrations.CreateModel(
            name="ScanDaily",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("day", models.DateField()),
                ("count", models.PositiveIntegerField(default=0)),
                (
                    "institution",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="scan_days",
                        to="institutions.institution",
                    ),
                ),
            ],
            options={
                "ordering": ["-day"],
            },
        ),
        migrations.AddConstraint(
            model_name="scandaily",
            constraint=models.UniqueConstraint(fields=("institution", "day"), name="unique_scan_day"),
        ),
        migrations.RunPython(fold_scans, migrations.RunPython.noop),
        migrations.DeleteModel(
            name="CodeScan",
        ),
    ]

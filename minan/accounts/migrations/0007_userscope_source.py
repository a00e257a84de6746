"""One `source` field says where a scope entry comes from, instead of a flag per app."""

from django.db import migrations, models


def flags_to_source(apps, schema_editor):
    UserScope = apps.get_model("accounts", "UserScope")
    for flag, source in (("via_duty", "duty"), ("via_group", "group"), ("via_inspection", "inspection")):
        UserScope.objects.filter(**{flag: True}).update(source=source)


def source_to_flags(apps, schema_editor):
    UserScope = apps.get_model("accounts", "UserScope")
    for flag, source in (("via_duty", "duty"), ("via_group", "group"), ("via_inspection", "inspection")):
        UserScope.objects.filter(source=source).update(**{flag: True})


class Migration(migrations.Migration):
    dependencies = [("accounts", "0006_api_tokens")]

    operations = [
        migrations.AddField(
            model_name="userscope",
            name="source",
            field=models.CharField(
                choices=[
                    ("granted", "granted by an administrator"),
                    ("duty", "follows a duty assignment"),
                    ("group", "follows a supervision group"),
                    ("inspection", "follows an inspection task"),
                ],
                default="granted",
                editable=False,
                max_length=16,
                verbose_name="source",
            ),
        ),
        migrations.RunPython(flags_to_source, source_to_flags),
        migrations.RemoveField(model_name="userscope", name="via_duty"),
        migrations.RemoveField(model_name="userscope", name="via_group"),
        migrations.RemoveField(model_name="userscope", name="via_inspection"),
    ]

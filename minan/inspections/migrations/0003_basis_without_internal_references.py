"""The shipped checklists' basis ended in a reference to a section of a planning document outside the
product ("（<document> §<section>，可配置）"); users read the basis, so it now says what it is: MinAn's
default."""

import re

from django.db import migrations

# The parenthesised reference as the first seeding wrote it: a document name in capitals and a section.
OUTSIDE_REFERENCE = re.compile(r"（[A-Z]+ §[0-9.]+，可配置）")
MINAN_DEFAULT = "（民安默认，可配置）"


def forward(apps, schema_editor):
    for model in ("ChecklistTemplate", "ChecklistItem"):
        rows = apps.get_model("inspections", model).objects
        for pk, basis in rows.filter(basis__contains="§").values_list("pk", "basis"):
            fixed = OUTSIDE_REFERENCE.sub(MINAN_DEFAULT, basis)
            if fixed != basis:
                rows.filter(pk=pk).update(basis=fixed)


class Migration(migrations.Migration):
    dependencies = [("inspections", "0002_seed_checklists")]

    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]

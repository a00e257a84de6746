"""The shipped checklists' basis named a section of a planning document outside the product
("（DOMAIN §7.3，可配置）"); users read the basis, so it now says what it is: MinAn's default."""

from django.db import migrations
from django.db.models import Value
from django.db.models.functions import Replace

FIXES = [
    ("养老机构消防自查一本通（DOMAIN §7.3，可配置）", "养老机构消防自查一本通（民安默认，可配置）"),
    ("互联网+明厨亮灶（DOMAIN §9，可配置）", "互联网+明厨亮灶（民安默认，可配置）"),
]


def forward(apps, schema_editor):
    for model in ("ChecklistTemplate", "ChecklistItem"):
        rows = apps.get_model("inspections", model).objects
        for old, new in FIXES:
            rows.filter(basis__contains=old).update(basis=Replace("basis", Value(old), Value(new)))


class Migration(migrations.Migration):
    dependencies = [("inspections", "0002_seed_checklists")]

    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]

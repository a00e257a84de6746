"""Default CONFIGURABLE lists. Administrators change them afterwards."""

from django.db import migrations

SUBTYPES = [
    ("elderly_care", "elderly_home", "养老院 / 养老中心"),
    ("elderly_care", "welfare_home", "社会福利院"),
    ("elderly_care", "rural_home", "特困人员供养服务设施（敬老院）"),
    ("elderly_care", "medical_care", "医养结合机构"),
    ("elderly_care", "community_centre", "社区养老服务中心"),
    ("child_welfare", "child_welfare_home", "儿童福利院 / 儿童福利机构"),
    ("child_welfare", "minor_protection", "未成年人救助保护中心"),
    ("funeral", "funeral_home", "殡仪馆"),
    ("funeral", "cemetery_commercial", "公墓（经营性）"),
    ("funeral", "cemetery_public", "公墓（公益性）"),
    ("funeral", "columbarium", "骨灰堂"),
    ("funeral", "funeral_station", "殡葬服务站 / 服务中心"),
]
OWNERSHIP = [
    ("public_public", "公办公营"),
    ("public_private", "公建民营"),
    ("private", "民办"),
    ("township_home", "乡镇敬老院"),
]
# Illustrative default scheme (not from any regulation): first match wins.
CLASSES = [
    ("D", "重点监管", "#c0392b", 1, 12, True, 3, [("open_major_hazards", 1), ("incidents_12m", 1)]),
    ("C", "加强监管", "#e67e22", 2, 4, False, 2, [("overdue_general_hazards", 1), ("complaints_90d", 3)]),
    ("B", "一般监管", "#d4ac0d", 3, 2, False, 1, [("not_fire_standardised", None), ("star_grade_below", 1)]),
    ("A", "常规监管", "#27ae60", 4, 1, False, 1, []),
]


def seed(apps, schema_editor):
    Subtype = apps.get_model("institutions", "Subtype")
    Ownership = apps.get_model("institutions", "Ownership")
    RiskClass = apps.get_model("institutions", "RiskClass")
    ClassRule = apps.get_model("institutions", "ClassRule")
    for order, (kind, code, name) in enumerate(SUBTYPES):
        Subtype.objects.get_or_create(code=code, defaults={"kind": kind, "name": name, "order": order})
    for order, (code, name) in enumerate(OWNERSHIP):
        Ownership.objects.get_or_create(code=code, defaults={"name": name, "order": order})
    for code, label, colour, order, per_year, always, weight, rules in CLASSES:
        risk_class, created = RiskClass.objects.get_or_create(
            code=code,
            defaults={
                "label": label,
                "colour": colour,
                "order": order,
                "min_inspections_per_year": per_year,
                "always_sample": always,
                "sample_weight": weight,
                "is_default": code == "A",
            },
        )
        if created:
            for i, (condition, threshold) in enumerate(rules):
                ClassRule.objects.create(risk_class=risk_class, condition=condition, threshold=threshold, order=i)


class Migration(migrations.Migration):
    dependencies = [("institutions", "0003_public_token_unique")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]

"""Seed data: the 2023 major-hazard criteria for elderly-care institutions — the 7 of 22
situations whose text is available (paraphrased, marked incomplete) — and the default
deadlines per category (CONFIGURABLE: 5 working days for general, 30 for major)."""

from django.db import migrations

CLAUSES = [
    ("MCA2023-4-1", "重要设施设备存在严重缺陷", "机构使用的建筑被鉴定为C级或D级危房，或被住房城乡建设部门认定存在重大结构安全隐患。",
     "A building used by the institution is appraised as a C- or D-class dangerous building, or the housing-construction department finds a major structural hazard."),
    ("MCA2023-4-2", "重要设施设备存在严重缺陷", "经住房城乡建设、消防部门或有资质的第三方认定，建筑消防设计、消防设施、电气或燃气设施违反法律法规或强制性标准，不具备基本消防安全技术条件。",
     "The housing-construction or fire department, or a qualified third party, finds that fire design, fire-fighting, electrical or gas installations breach laws or mandatory standards, so that basic fire-safety conditions are missing."),
    ("MCA2023-4-3", "重要设施设备存在严重缺陷", "老年人居住的建筑采用易燃可燃夹芯材料的彩钢板搭建，或大面积使用可燃装修材料。",
     "Buildings where residents live are built with colour-steel sandwich panels with combustible cores, or have large-scale combustible decoration."),
    ("MCA2023-4-4", "重要设施设备存在严重缺陷", "电梯、锅炉、氧气管道等特种设备无生产许可、未经检验或检验不合格、属国家明令淘汰或已达报废条件。",
     "Special equipment (elevators, boilers, oxygen pipelines, etc.) is made without a production licence, uninspected or failed inspection, of a phased-out type, or past its scrapping condition."),
    ("MCA2023-5-1", "安全生产相关资格资质不符合法定要求", "内设医疗机构未取得医疗机构执业许可证或未按规定备案即开展诊疗活动。",
     "An in-house medical facility runs without a practising licence or without the required filing."),
    ("MCA2023-5-2", "安全生产相关资格资质不符合法定要求", "内设食堂未取得食品经营许可证。",
     "An in-house canteen runs without a food business licence."),
    ("MCA2023-5-3", "安全生产相关资格资质不符合法定要求", "未取得相应资格的人员从事特种设备安全管理或作业。",
     "Persons without the required qualification do special-equipment safety management or operation."),
]  # fmt: skip
CATEGORIES = ["fire", "electrical", "gas", "building", "equipment", "food", "service", "security", "other"]


def seed(apps, schema_editor):
    CriteriaSet = apps.get_model("hazards", "CriteriaSet")
    Clause = apps.get_model("hazards", "Clause")
    CategorySetting = apps.get_model("hazards", "CategorySetting")
    criteria, created = CriteriaSet.objects.get_or_create(
        code="mca-2023-elderly-major",
        defaults={
            "title": "养老机构重大事故隐患判定标准",
            "issuer": "民政部办公厅",
            "issued_on": "2023-11-27",
            "effective_on": "2023-11-27",
            "makes_major": True,
            "expected_items": 22,
            "source": "民政部办公厅通知（2023-11-27）；条文为转述，完整条文请管理员按官方文本补全",
        },
    )
    if created:
        for order, (key, group, text, text_en) in enumerate(CLAUSES):
            Clause.objects.create(criteria_set=criteria, key=key, group=group, text=text, text_en=text_en,
                                  complete=False, order=order)  # fmt: skip
    for category in CATEGORIES:
        CategorySetting.objects.get_or_create(category=category, defaults={"general_days": 5, "major_days": 30})


class Migration(migrations.Migration):
    dependencies = [("hazards", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]

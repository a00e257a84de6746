"""Default duty lists 岗位责任清单 (CONFIGURABLE — administrators edit them afterwards).

The cadre's first duty carries the 包保督查 rule: visit each assigned institution at least once a month.
"""

from django.db import migrations

POSTS = [
    ("safety_office_director", "安全办公室主任", "", [
        ("组织制定年度安全生产工作要点和检查计划", "yearly", ""),
        ("每周调度全系统安全生产工作，通报存在问题", "weekly", ""),
        ("每月汇总隐患排查治理情况，形成月度总结", "monthly", ""),
        ("组织全员安全培训、开工第一课和警示教育", "", ""),
        ("协调专委会成员单位开展联合检查", "", ""),
    ]),
    ("sector_lead", "业务科室负责人", "sector_lead", [
        ("落实“管行业必须管安全”，负责本领域机构的安全监管", "", ""),
        ("每月组织本领域行业检查", "monthly", ""),
        ("审核本领域机构分类和风险等级", "", ""),
        ("督促本领域机构综合责任保险全覆盖", "", ""),
    ]),
    ("supervision_commissioner", "督导专员", "supervision_member", [
        ("每季度对所督导县区开展一次督导检查", "quarterly", ""),
        ("检查包保干部履职情况和包保督查记录", "", ""),
        ("督办重大事故隐患整改，跟踪销号", "", ""),
        ("向督导组组长报告督导情况", "monthly", ""),
    ]),
    ("responsible_cadre", "包保干部", "cadre", [
        ("每月至少到所包保机构开展一次包保督查，记录检查内容和发现的问题", "monthly", "duty_visit"),
        ("督促机构落实安全主体责任，建立健全安全管理制度", "", ""),
        ("对发现的隐患督促机构限期整改，跟踪验收，做到闭环销号", "", ""),
        ("掌握机构基本情况、入住人数和四专员履职情况", "", ""),
        ("机构发生突发事件时第一时间到场，并按规定报告", "", ""),
    ]),
    ("institution_head", "机构负责人", "", [
        ("全面负责本机构安全工作，是本机构安全第一责任人", "", ""),
        ("每月至少组织一次防火检查", "monthly", ""),
        ("保障安全投入，落实隐患整改资金", "", ""),
        ("组织制定应急预案，每半年至少组织一次演练", "half_yearly", ""),
    ]),
    ("institution_safety_commissioner", "机构安全专员", "", [
        ("每日开展防火巡查，夜间至少每2小时巡查一次，并做好记录", "daily", ""),
        ("每周开展一次安全自查", "weekly", ""),
        ("登记发现的隐患，跟踪整改到位", "", ""),
        ("组织员工安全培训和应急疏散演练", "", ""),
    ]),
]  # fmt: skip


def seed(apps, schema_editor):
    DutyPost = apps.get_model("duty", "DutyPost")
    DutyItem = apps.get_model("duty", "DutyItem")
    for order, (code, name, role, items) in enumerate(POSTS):
        post, created = DutyPost.objects.get_or_create(
            code=code, defaults={"name": name, "role": role, "order": order}
        )
        if created:
            for number, (text, recurrence, task) in enumerate(items, start=1):
                DutyItem.objects.create(post=post, number=number, text=text, recurrence=recurrence, task=task)


class Migration(migrations.Migration):
    dependencies = [("duty", "0002_groups_posts_visits")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]

"""The 包保 part of the Jining demo: cadres and assignments, supervision groups, a month of duty visits.

It leaves some gaps on purpose, so that the flags show: a few operating institutions without a cadre,
one cadre above the load limit, one county without a supervision group, and overdue visits.
Idempotent: it does nothing once the demo groups exist.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from django.utils import timezone

from minan.accounts import services as accounts
from minan.accounts.models import User
from minan.accounts.roles import CADRE, SUPERVISION_MEMBER
from minan.institutions.models import Institution
from minan.regions.models import Region

from . import services
from .models import DutyAssignment, SupervisionGroup

# name, leader username (created unless it exists), leader name, member name, counties
GROUPS = [
    ("第一督导组", "supervisor", "", "督导专员 郑专员", ["370811", "370812", "370881", "370883"]),
    ("第二督导组", "group2", "督导组 钱组长", "督导专员 冯专员", ["370826", "370827", "370828", "370829"]),
    ("第三督导组", "group3", "督导组 孙组长", "督导专员 何专员", ["370830", "370831"]),
]  # 370832 梁山县 is left uncovered: the groups page flags it
UNASSIGNED_PER_COUNTY = {"370826": 2, "370832": 1}  # operating institutions left without a cadre
SURNAMES = "王李张刘陈杨黄赵周吴徐孙马朱胡郭何高林罗"


def _person(username: str, name: str, role: str, region: Region, phone: str = "") -> User:
    user = User.objects.filter(username=username).first()
    if user is None:
        user = accounts.create_user(
            None, username=username, display_name=name, password=None, region=region, phone=phone,
            must_change_password=True,
        )  # fmt: skip
        accounts.grant_role(None, user, role)
    return user


def build(stdout: Any = None) -> None:
    if SupervisionGroup.objects.exists():
        return
    rng = random.Random(370811)  # noqa: S311 (demo data)
    today = timezone.localdate()
    city = Region.objects.get(code="370800")
    started = today - dt.timedelta(days=150)
    for county in Region.objects.filter(level=Region.Level.COUNTY, statutory=True).order_by("code"):
        cadres = [
            _person(
                f"c{county.code}_cadre{n}",
                f"{county.name}包保干部 {rng.choice(SURNAMES)}干部{n}",
                CADRE,
                county,
                phone=f"139{rng.randrange(10**8):08d}",
            )  # fmt: skip
            for n in (1, 2)
        ]
        operating = list(
            Institution.objects.filter(region_path__startswith=county.region_path, status="operating")
            .exclude(duty_assignments__active=True)
            .order_by("name")
        )
        operating = operating[UNASSIGNED_PER_COUNTY.get(county.code, 0) :]
        for n, institution in enumerate(operating):
            # 任城区's first cadre carries almost everything: the coverage page flags the load.
            cadre = cadres[0] if county.code == "370811" or n % 2 == 0 else cadres[1]
            services.assign_cadre(None, institution, cadre, starts_on=started)
    for name, leader_name, leader_display, member_display, codes in GROUPS:
        leader = _person(leader_name, leader_display, SUPERVISION_MEMBER, city)
        member = _person(f"{leader_name}_member", member_display, SUPERVISION_MEMBER, city)
        counties = list(Region.objects.filter(code__in=codes))
        services.save_group(None, None, name=name, leader=leader, members=[member], counties=counties)
    _visits(rng, today)
    if stdout is not None:
        stdout.write(f"duty: {DutyAssignment.objects.filter(active=True).count()} active assignments")


def _visits(rng: random.Random, today: dt.date) -> None:
    """Most institutions were visited this month, some last month, some too long ago (overdue)."""
    checked = "消防通道、安全出口、消防设施、用电安全、食品留样、值班记录"
    findings = [
        "",
        "",
        "疏散通道堆放杂物，已要求立即清理",
        "灭火器压力不足2具，已要求更换",
        "夜间巡查记录不全",
    ]
    for assignment in DutyAssignment.objects.filter(active=True).select_related("institution", "cadre"):
        roll = rng.random()
        if roll < 0.8:
            day = today - dt.timedelta(days=rng.randrange(0, 27))  # within the month: not due yet
        elif roll < 0.9:
            day = today - dt.timedelta(days=rng.randrange(27, 31))  # due in the next few days
        else:
            day = today - dt.timedelta(days=rng.randrange(40, 70))  # overdue
        if assignment.institution.name == "任城区古槐街道敬老院":
            day = today - dt.timedelta(days=45)  # the demo cadre has one overdue visit to make
        day = max(day, assignment.starts_on)
        services.record_visit(
            User.objects.get(pk=assignment.cadre_id), assignment.institution, visited_on=day, checked=checked,
            findings=rng.choice(findings),
        )  # fmt: skip

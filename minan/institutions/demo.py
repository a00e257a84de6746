"""The demo registry: about 300 invented institutions across the Jining counties (deterministic)."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from minan.accounts import services as accounts
from minan.accounts.models import User
from minan.core.identifiers import ORG_WEIGHTS, USCC_ALPHABET, uscc_check_character
from minan.regions.models import Region

from . import services
from .classification.services import reclassify
from .models import Commissioner, Institution, Ownership, Subtype

PER_COUNTY = 28
ELDERLY_WORDS = [
    "颐养",
    "康宁",
    "福寿",
    "安康",
    "松鹤",
    "夕阳红",
    "幸福",
    "仁爱",
    "瑞祥",
    "乐龄",
    "康乐",
    "和美",
    "颐和",
    "长青",
    "孝德",
]
ELDERLY_SUFFIX = [("养老院", "elderly_home"), ("养老中心", "elderly_home"), ("老年公寓", "elderly_home"),
                  ("护理院", "medical_care"), ("社区养老服务中心", "community_centre")]  # fmt: skip
INSURERS = ["中国人民财产保险股份有限公司济宁市分公司", "中国平安财产保险股份有限公司济宁中心支公司",
            "中华联合财产保险股份有限公司济宁中心支公司", "太平财产保险有限公司济宁中心支公司"]  # fmt: skip
SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉兰萍建华红梅国庆文志海燕"


def _org_code(rng: random.Random) -> str:
    body = "".join(rng.choice("0123456789") for _i in range(8))
    c = 11 - sum(int(ch) * w for ch, w in zip(body, ORG_WEIGHTS, strict=True)) % 11
    return body + {10: "X", 11: "0"}.get(c, str(c))


def make_uscc(prefix: str, area: str, rng: random.Random) -> str:
    first17 = prefix + area + _org_code(rng)
    assert all(ch in USCC_ALPHABET for ch in first17)
    return first17 + uscc_check_character(first17)


def _person(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _i in range(rng.choice([1, 2])))


def _phone(rng: random.Random) -> str:
    return rng.choice(["139", "138", "158", "188", "135"]) + f"{rng.randrange(10**8):08d}"


def build(stdout: Any = None) -> int:
    """Create what is missing; returns the number of institutions created."""
    rng = random.Random(370800)  # noqa: S311 (demo data)
    subtypes = {s.code: s for s in Subtype.objects.all()}
    owners = {o.code: o for o in Ownership.objects.all()}
    today = timezone.localdate()
    created = 0
    counties = list(Region.objects.filter(level=Region.Level.COUNTY, statutory=True).order_by("code"))
    for county in counties:
        towns = list(Region.objects.filter(parent=county).order_by("code")) or [county]
        liaison = _county_person(county, "liaison", "联络专员", rng)
        oversight = _county_person(county, "oversight", "社会监督专员", rng)
        for n in range(PER_COUNTY):
            town = towns[n % len(towns)]
            plan = _plan(county, town, n, rng)
            if Institution.objects.filter(name=plan["name"]).exists():
                continue
            ownership = owners[plan.pop("ownership")]
            prefix = {"public_public": "12", "township_home": "12"}.get(
                ownership.code, rng.choice(["52", "91"])
            )
            built = rng.randrange(1985, 2023)
            standardised = rng.random() < 0.55
            star = rng.choice([0, 0, 1, 2, 2, 3, 3, 4, 5]) if plan["kind"] == "elderly_care" else 0
            beds = plan.pop("beds")
            institution = services.create_institution(
                None,
                subtype=subtypes[plan.pop("subtype")],
                ownership=ownership,
                region=town,
                uscc=make_uscc(prefix, county.code, rng),
                address=f"山东省济宁市{county.name}{town.name if town != county else ''}{rng.randrange(1, 300)}号",
                contact_name=_person(rng),
                contact_phone=_phone(rng),
                legal_representative=_person(rng),
                beds=beds,
                residents=int(beds * rng.uniform(0.4, 0.95)),
                staff_count=max(2, beds // 8),
                opened_on=date(max(built, 1995), rng.randrange(1, 13), rng.randrange(1, 28)),
                filing_status="filed" if plan["kind"] == "elderly_care" else "not_required",
                fire_acceptance=rng.choice(["accepted", "accepted", "filed", "none", "unknown"]),
                building_floors=rng.randrange(1, 7),
                building_structure=rng.choice(
                    ["reinforced_concrete", "brick_concrete", "brick_concrete", "steel"]
                ),
                construction_year=built,
                star_grade=star,
                star_grade_date=date(rng.randrange(2021, 2026), rng.randrange(1, 13), 15) if star else None,
                fire_standardised=standardised,
                fire_standardised_date=date(rng.randrange(2023, 2026), rng.randrange(1, 13), 1)
                if standardised
                else None,
                latitude=Decimal("35.40") + Decimal(rng.randrange(-3000, 3000)) / 10000,
                longitude=Decimal("116.58") + Decimal(rng.randrange(-5000, 5000)) / 10000,
                status=rng.choice(["operating"] * 18 + ["suspended"]),
                **plan,
            )
            created += 1
            _insure(institution, rng, today)
            _commission(institution, liaison, oversight, rng)
    # Institutions from before the classification scheme existed get their class now.
    reclassify(list(Institution.objects.filter(risk_class__isnull=True)))
    if stdout is not None:
        stdout.write(f"institutions created: {created} (total {Institution.objects.count()})")
    return created


def _plan(county: Region, town: Region, n: int, rng: random.Random) -> dict[str, Any]:
    short = county.name
    if n == 0:
        return {"name": f"{short}殡仪馆", "kind": "funeral", "subtype": "funeral_home", "ownership": "public_public",
                "beds": 0}  # fmt: skip
    if n in (1, 2):
        kind = "cemetery_public" if n == 1 else "cemetery_commercial"
        word = ELDERLY_WORDS[(n * 7 + int(county.code[-2:])) % len(ELDERLY_WORDS)]
        return {"name": f"{short}{word}公墓", "kind": "funeral", "subtype": kind,
                "ownership": "public_public" if n == 1 else "private", "beds": 0}  # fmt: skip
    if n == 3:
        return {"name": f"{short}{town.name}殡葬服务站", "kind": "funeral", "subtype": "funeral_station",
                "ownership": "public_public", "beds": 0}  # fmt: skip
    if n == 4:
        if county.code in {"370811", "370881", "370883"}:
            return {"name": f"{short}儿童福利院", "kind": "child_welfare", "subtype": "child_welfare_home",
                    "ownership": "public_public", "beds": rng.randrange(40, 120)}  # fmt: skip
        return {"name": f"{short}未成年人救助保护中心", "kind": "child_welfare", "subtype": "minor_protection",
                "ownership": "public_public", "beds": rng.randrange(10, 40)}  # fmt: skip
    if n == 11:
        return {"name": f"{short}社会福利中心", "kind": "elderly_care", "subtype": "welfare_home",
                "ownership": "public_public", "beds": rng.randrange(200, 400)}  # fmt: skip
    if n in (5, 6, 7, 8, 9, 10):
        return {"name": f"{short}{town.name}敬老院", "kind": "elderly_care", "subtype": "rural_home",
                "ownership": "township_home", "beds": rng.randrange(40, 160)}  # fmt: skip
    word = ELDERLY_WORDS[(n + int(county.code[-2:])) % len(ELDERLY_WORDS)]
    suffix, subtype = ELDERLY_SUFFIX[n % len(ELDERLY_SUFFIX)]
    return {"name": f"{short}{word}{suffix}" if n < 26 else f"{short}{town.name}{word}{suffix}",
            "kind": "elderly_care", "subtype": subtype,
            "ownership": rng.choice(["private", "private", "public_private", "public_public"]),
            "beds": rng.randrange(30, 420)}  # fmt: skip


def _county_person(county: Region, key: str, title: str, rng: random.Random) -> User:
    username = f"c{county.code}_{key}"
    user = User.objects.filter(username=username).first()
    if user is None:
        user = accounts.create_user(
            None, username=username, display_name=f"{county.name}{title} {_person(rng)}", password=None,
            region=county, phone=_phone(rng), must_change_password=True,
        )  # fmt: skip
    return user


def _commission(institution: Institution, liaison: User, oversight: User, rng: random.Random) -> None:
    if rng.random() < 0.12:  # some institutions miss commissioners: they are flagged in the list
        return
    for role, title in (
        (Commissioner.Role.SERVICE_QUALITY, "服务质量专员"),
        (Commissioner.Role.SAFETY, "安全专员"),
    ):
        username = f"i{institution.pk}_{role}"
        person = User.objects.filter(username=username).first() or accounts.create_user(
            None, username=username, display_name=f"{_person(rng)}（{title}）", password=None,
            region=institution.region, institution=institution, phone=_phone(rng), must_change_password=True,
        )  # fmt: skip
        services.set_commissioner(None, institution, role, person)
    services.set_commissioner(None, institution, Commissioner.Role.LIAISON, liaison)
    if rng.random() < 0.9:
        services.set_commissioner(None, institution, Commissioner.Role.PUBLIC_OVERSIGHT, oversight)


def _insure(institution: Institution, rng: random.Random, today: date) -> None:
    roll = rng.random()
    if roll < 0.08:
        return  # uninsured
    if roll < 0.14:
        ends = today - timedelta(days=rng.randrange(5, 200))  # expired
    elif roll < 0.22:
        ends = today + timedelta(days=rng.randrange(1, 30))  # expiring within 30 days
    else:
        ends = today + timedelta(days=rng.randrange(31, 360))
    starts = ends - timedelta(days=365)
    services.add_policy(
        None,
        institution,
        services.PolicyData(
            insurer=rng.choice(INSURERS),
            number=f"PZAH{institution.region.code}{institution.pk:05d}{ends:%y}",
            coverage=Decimal(rng.choice([500000, 1000000, 2000000, 3000000])),
            starts_on=starts,
            ends_on=ends,
        ),
    )

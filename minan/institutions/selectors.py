"""Scoped reads of the registry: the one filter used by the list page, the API and the xlsx export."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from minan.regions import paths
from minan.regions import selectors as regions
from minan.regions.models import Region

from .models import Commissioner, Institution, InsurancePolicy

SORTS = {
    "name": ("name",),
    "-name": ("-name",),
    "region": ("region_path", "name"),
    "beds": ("beds", "name"),
    "-beds": ("-beds", "name"),
    "star": ("star_grade", "name"),
    "-star": ("-star_grade", "name"),
    "class": ("risk_class__order", "name"),
    "-class": ("-risk_class__order", "name"),
    "updated": ("-updated_at",),
}


def with_flags(qs: QuerySet[Institution]) -> Any:
    """Annotate `commissioner_count` and `insured` (a policy valid today)."""
    today = timezone.localdate()
    valid = InsurancePolicy.objects.filter(
        institution=OuterRef("pk"), starts_on__lte=today, ends_on__gte=today
    )
    counts = (
        Commissioner.objects.filter(institution=OuterRef("pk")).values("institution").annotate(n=Count("id"))
    )
    return qs.annotate(
        insured=Exists(valid),
        commissioner_count=Coalesce(Subquery(counts.values("n"), output_field=IntegerField()), 0),
    )


def filter_institutions(base: QuerySet[Institution], params: Any) -> Any:
    """Apply the list filters of the registry to an already scoped queryset. Unknown values are ignored."""
    qs: Any = with_flags(base.select_related("region", "subtype", "risk_class", "class_override"))
    if q := str(params.get("q", "")).strip()[:50]:
        qs = qs.filter(Q(name__icontains=q) | Q(uscc__iexact=q) | Q(address__icontains=q))
    if (kind := params.get("kind")) in Institution.Kind.values:
        qs = qs.filter(kind=kind)
    if (status := params.get("status")) in Institution.Status.values:
        qs = qs.filter(status=status)
    if (region := str(params.get("region", "")).strip()).isdigit():
        qs = qs.filter(region_path__contains=f"{region}/")
    if risk_class := str(params.get("class", "")).strip()[:10]:
        qs = qs.filter(
            Q(class_override__code=risk_class) | Q(class_override__isnull=True, risk_class__code=risk_class)
        )
    if (star := str(params.get("star", ""))).isdigit() and int(star) <= 5:
        qs = qs.filter(star_grade=int(star))
    if params.get("standardised") in {"0", "1"}:
        qs = qs.filter(fire_standardised=params["standardised"] == "1")
    if params.get("missing_commissioners") == "1":
        qs = qs.filter(commissioner_count__lt=len(Commissioner.Role.values))
    if params.get("uninsured") == "1":
        qs = qs.filter(insured=False)
    order = SORTS.get(str(params.get("sort", "")), ("region_path", "name"))
    return qs.order_by(*order)


def counts_by_county(user: Any) -> list[tuple[str, str, int, dict[str, int]]]:
    """(county code, county name, total, {kind: n}) for the home dashboard, inside the user's scope."""
    rows = Institution.objects.for_user(user).values("region_path", "kind").annotate(n=Count("id")).order_by()
    per_county: dict[str, dict[str, int]] = {}
    for row in rows:
        if not paths.county_of(row["region_path"]):
            continue
        county = paths.county_code(row["region_path"])
        per_county.setdefault(county, {})
        per_county[county][row["kind"]] = per_county[county].get(row["kind"], 0) + row["n"]
    names = regions.names(per_county)
    return [
        (code, names.get(code, code), sum(kinds.values()), kinds)
        for code, kinds in sorted(per_county.items())
    ]


def insurance_overview(user: Any, *, days: int = 30) -> dict[str, Any]:
    """Coverage rate of operating institutions and the policies ending within `days`, inside the scope."""
    today = timezone.localdate()
    operating = with_flags(Institution.objects.for_user(user).filter(status=Institution.Status.OPERATING))
    total = operating.count()
    insured = operating.filter(insured=True).count()
    per_county: dict[str, list[int]] = {}
    for path, is_insured in operating.values_list("region_path", "insured"):
        county = paths.county_code(path)
        counts = per_county.setdefault(county, [0, 0])
        counts[0] += 1
        counts[1] += int(bool(is_insured))

    names = regions.names(per_county)
    expiring = (
        InsurancePolicy.objects.for_user(user)
        .filter(ends_on__gte=today, ends_on__lte=today + timedelta(days=days))
        .select_related("institution", "institution__region")
        .order_by("ends_on")
    )
    expired_uninsured = (
        operating.filter(insured=False).select_related("region").order_by("region_path", "name")
    )
    return {
        "total": total,
        "insured": insured,
        "rate": round(100 * insured / total, 1) if total else None,
        "by_county": [
            (code, names.get(code, code), n, ok, round(100 * ok / n, 1))
            for code, (n, ok) in sorted(per_county.items())
        ],
        "expiring": expiring,
        "uninsured": expired_uninsured[:200],
        "uninsured_count": total - insured,
        "days": days,
    }


def home_figures(user: Any) -> dict[str, Any]:
    """The home page's overview: counts inside the user's scope and the distribution by kind and county."""
    institutions = Institution.objects.for_user(user)
    by_kind = dict(institutions.values_list("kind").annotate(n=Count("id")).order_by())
    return {
        "institutions": sum(by_kind.values()),
        "by_kind": [(label, by_kind.get(value, 0)) for value, label in Institution.Kind.choices],
        "operating": institutions.filter(status=Institution.Status.OPERATING).count(),
        "counties": Region.objects.for_user(user).filter(level=Region.Level.COUNTY).count(),
        "users": get_user_model().objects.for_user(user).filter(is_active=True).count(),
        "by_county": counts_by_county(user),
        "kinds": Institution.Kind.choices,
        "can_see_institutions": user.has_perm("institutions.view_institution"),
        "can_see_users": user.has_perm("accounts.view_user"),
    }


def kinds_in_region(user: Any, region: Any) -> list[tuple[str, int]]:
    """(kind label, count) of the institutions in the user's scope inside a region, kinds that have any."""
    counts = dict(
        Institution.objects.for_user(user)
        .filter(region_path__startswith=region.region_path)
        .values_list("kind")
        .annotate(n=Count("id"))
        .order_by()
    )
    return [(str(label), counts[value]) for value, label in Institution.Kind.choices if counts.get(value)]

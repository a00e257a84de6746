"""Classification and risk class (分类监管).

The scheme is data, edited by administrators: `RiskClass` rows (code, label, colour, minimum on-site
inspections per year, random-check weighting, exactly one default) and, per class, `ClassRule` rows
(a condition from `ClassRule.Condition` and, for conditions that take one, a threshold N). Classes are
tried in `order`; a class matches when any of its rules matches; the first matching class wins; the
default class applies when none does.

Fact sources
------------
A rule reads one *fact* about the institution. Facts come from a registry of sources:
``register_fact(condition_code, fn)`` where ``fn(institution_ids, today) -> {institution_id: value}``
answers for a whole batch at once (a fixed number of queries, never one per institution). An
institution missing from the answer does not match (unknown fact, or a count of zero).

This module registers the sources that need only registry data: ``beds_at_least``,
``building_age_at_least`` (unknown construction year → not matched), ``not_fire_standardised``,
``star_grade_below`` and ``no_valid_insurance``.

The other conditions (open major hazards, overdue general hazards, incidents, substantiated complaints,
fire alarms) read data that later modules record (hazards, fire alarms, the public complaints module).
Until such a module registers its source — from its ``AppConfig.ready()`` — a rule on that condition
**never matches**, and ``scheme_warnings()`` names the rule so the scheme page tells administrators
"this rule has no data source yet". The scheme never pretends such a fact is zero silently.

Deriving and writing
--------------------
- ``classify_many()``: derive (class, reason) for many institutions with one load of the scheme.
- The writes live in ``services/classification.py``: ``reclassify()`` stores the derived class where it
  changed (history row and audit event per change), idempotent, called by the registry's update service
  for one institution, by the nightly job (``tasks.reclassify_all``), and — through the worker — after
  every scheme change; ``set_override()`` / ``clear_override()``, a class set by hand with a mandatory
  reason; ``save_class()``, ``set_default_class()``, ``save_rule()``, ``delete_rule()``, scheme editing
  with permission ``institutions.change_riskclass``.

Reasons are stored in the site language (``settings.LANGUAGE_CODE``) whatever the language of the
request, so that reclassifying from a request in another language does not look like a change.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import Prefetch
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ..models import ClassRule, Institution, InsurancePolicy, RiskClass

Condition = ClassRule.Condition
FactSource = Callable[[list[int], dt.date], dict[int, int]]
Matcher = Callable[[int, int], bool]

REASON_MAX = 200
MIN_REASON_LENGTH = 4
SCHEME_PERMISSION = "institutions.change_riskclass"
OVERRIDE_PERMISSION = "institutions.change_institution"

# Conditions that are true or false; every other condition compares a value with a threshold N.
BOOLEAN_CONDITIONS = frozenset({Condition.NOT_FIRE_STANDARDISED.value, Condition.NO_VALID_INSURANCE.value})
COLOUR_RE = re.compile(r"^#[0-9A-Fa-f]{6}$")


# --- Fact registry -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fact:
    fn: FactSource
    matches: Matcher  # (value, threshold) -> bool; threshold is 1 for boolean conditions


def _at_least(value: int, threshold: int) -> bool:
    return value >= threshold


def _below(value: int, threshold: int) -> bool:
    return value < threshold


_FACTS: dict[str, Fact] = {}


def register_fact(condition_code: str, fn: FactSource, *, matches: Matcher | None = None) -> None:
    """Register the batched source of one condition's fact.

    `fn(institution_ids, today)` returns {institution_id: value} for the institutions where the fact is
    known and non-zero. By default a rule matches when value ≥ N (boolean conditions: value ≥ 1);
    pass `matches(value, n)` for other comparisons. Registering a condition again replaces its source.
    """
    if condition_code not in Condition.values:
        raise ValueError(f"unknown classification condition {condition_code!r}")
    _FACTS[condition_code] = Fact(fn=fn, matches=matches or _at_least)


def unregister_fact(condition_code: str) -> None:
    """Remove a source (tests, and modules that are switched off)."""
    _FACTS.pop(condition_code, None)


def has_source(condition_code: str) -> bool:
    return condition_code in _FACTS


def _field_values(ids: list[int], field_name: str, **filters: Any) -> dict[int, int]:
    rows = Institution.objects.filter(pk__in=ids, **filters).values_list("pk", field_name)
    return {pk: int(value) for pk, value in rows}


def beds_fact(ids: list[int], today: dt.date) -> dict[int, int]:
    return _field_values(ids, "beds")


def building_age_fact(ids: list[int], today: dt.date) -> dict[int, int]:
    years = _field_values(ids, "construction_year", construction_year__isnull=False)
    return {pk: today.year - year for pk, year in years.items()}


def not_fire_standardised_fact(ids: list[int], today: dt.date) -> dict[int, int]:
    return dict.fromkeys(
        Institution.objects.filter(pk__in=ids, fire_standardised=False).values_list("pk", flat=True), 1
    )


def star_grade_fact(ids: list[int], today: dt.date) -> dict[int, int]:
    return _field_values(ids, "star_grade")


def no_valid_insurance_fact(ids: list[int], today: dt.date) -> dict[int, int]:
    covered = set(
        InsurancePolicy.objects.filter(
            institution_id__in=ids, starts_on__lte=today, ends_on__gte=today
        ).values_list("institution_id", flat=True)
    )
    return {pk: 1 for pk in ids if pk not in covered}


register_fact(Condition.BEDS_AT_LEAST, beds_fact)
register_fact(Condition.BUILDING_AGE_AT_LEAST, building_age_fact)
register_fact(Condition.NOT_FIRE_STANDARDISED, not_fire_standardised_fact)
register_fact(Condition.STAR_GRADE_BELOW, star_grade_fact, matches=_below)
register_fact(Condition.NO_VALID_INSURANCE, no_valid_insurance_fact)


# --- Rules in words ------------------------------------------------------------------------------


def describe_rule(condition: str, threshold: int | None) -> str:
    """The rule in words, e.g. "not fire-safety standardised" or "at least 200 beds"."""
    if condition == Condition.NOT_FIRE_STANDARDISED:
        return _("not fire-safety standardised")
    if condition == Condition.NO_VALID_INSURANCE:
        return _("no valid liability insurance")
    if threshold is None:
        return _("%(condition)s (threshold N missing)") % {"condition": Condition(condition).label}
    n = threshold
    if condition == Condition.OPEN_MAJOR_HAZARDS:
        text = ngettext("at least %(n)d open major hazard", "at least %(n)d open major hazards", n)
    elif condition == Condition.OVERDUE_GENERAL_HAZARDS:
        text = ngettext("at least %(n)d overdue general hazard", "at least %(n)d overdue general hazards", n)
    elif condition == Condition.INCIDENTS_12M:
        text = ngettext(
            "at least %(n)d incident in the last 12 months",
            "at least %(n)d incidents in the last 12 months",
            n,
        )
    elif condition == Condition.COMPLAINTS_90D:
        text = ngettext(
            "at least %(n)d substantiated complaint in the last 90 days",
            "at least %(n)d substantiated complaints in the last 90 days",
            n,
        )
    elif condition == Condition.ALARMS_90D:
        text = ngettext(
            "at least %(n)d fire alarm in the last 90 days",
            "at least %(n)d fire alarms in the last 90 days",
            n,
        )
    elif condition == Condition.STAR_GRADE_BELOW:
        if n == 1:
            return _("ungraded (no GB/T 37276 star grade)")
        text = _("star grade below %(n)d")
    elif condition == Condition.BEDS_AT_LEAST:
        text = ngettext("at least %(n)d bed", "at least %(n)d beds", n)
    elif condition == Condition.BUILDING_AGE_AT_LEAST:
        text = ngettext("building at least %(n)d year old", "building at least %(n)d years old", n)
    else:  # pragma: no cover - every condition is listed above
        return str(condition)
    return text % {"n": n}


def rule_text(rule: ClassRule) -> str:
    return describe_rule(rule.condition, rule.threshold)


def _evaluable(rule: ClassRule) -> bool:
    """A rule can match only with a registered source and, where the condition takes one, an N."""
    if rule.condition not in _FACTS:
        return False
    return rule.condition in BOOLEAN_CONDITIONS or rule.threshold is not None


# --- Scheme and derivation -----------------------------------------------------------------------


@dataclass
class Scheme:
    classes: list[RiskClass]  # in order, each with `rules` prefetched
    by_id: dict[int, RiskClass] = field(init=False)

    def __post_init__(self) -> None:
        self.by_id = {rc.pk: rc for rc in self.classes}

    @property
    def defaults(self) -> list[RiskClass]:
        return [rc for rc in self.classes if rc.is_default]

    @property
    def default(self) -> RiskClass | None:
        defaults = self.defaults
        return defaults[0] if defaults else None

    def rules(self) -> list[ClassRule]:
        return [rule for rc in self.classes for rule in rc.rules.all()]

    def code_of(self, class_id: int | None) -> str | None:
        rc = self.by_id.get(class_id) if class_id is not None else None
        return rc.code if rc else None


def load_scheme() -> Scheme:
    """The scheme in two queries: classes by order, rules prefetched."""
    classes = RiskClass.objects.order_by("order", "code").prefetch_related(
        Prefetch("rules", queryset=ClassRule.objects.order_by("order", "id"))
    )
    return Scheme(list(classes))


def scheme_warnings(scheme: Scheme | None = None) -> list[str]:
    """Human-readable problems of the scheme, for the scheme page."""
    scheme = scheme or load_scheme()
    warnings: list[str] = []
    if not scheme.defaults:
        warnings.append(_("The scheme has no default class; institutions that match no rule get no class."))
    elif len(scheme.defaults) > 1:
        warnings.append(_("The scheme has more than one default class; only the first one is used."))
    for rc in scheme.classes:
        for rule in rc.rules.all():
            if rule.condition not in _FACTS:
                warnings.append(
                    _(
                        "Class %(code)s, rule “%(rule)s”: this rule has no data source yet (the module that "
                        "records these facts is not installed), so it never matches."
                    )
                    % {"code": rc.code, "rule": rule_text(rule)}
                )
            elif rule.condition not in BOOLEAN_CONDITIONS and rule.threshold is None:
                warnings.append(
                    _("Class %(code)s, rule “%(rule)s”: the threshold N is missing, so it never matches.")
                    % {"code": rc.code, "rule": rule_text(rule)}
                )
    return warnings


def classify_many(
    institutions: Iterable[Institution], today: dt.date | None = None, *, scheme: Scheme | None = None
) -> dict[int, tuple[RiskClass, str]]:
    """{institution id: (derived class, reason)}; first matching class wins, else the default class.

    Runs the scheme query (unless given) plus one query per condition the scheme uses, whatever the
    number of institutions. Institutions that match no rule when the scheme has no default are left out.
    """
    today = today or timezone.localdate()
    scheme = scheme or load_scheme()
    ids = [inst.pk for inst in institutions]
    if not ids:
        return {}
    conditions = {rule.condition for rule in scheme.rules() if _evaluable(rule)}
    facts = {condition: _FACTS[condition].fn(ids, today) for condition in sorted(conditions)}
    default = scheme.default
    result: dict[int, tuple[RiskClass, str]] = {}
    with translation.override(settings.LANGUAGE_CODE):
        texts: dict[int, str] = {rule.pk: rule_text(rule)[:REASON_MAX] for rule in scheme.rules()}
        no_match = _("no rule matched")
        for pk in ids:
            found = _first_match(scheme, facts, pk)
            if found is not None:
                rc, rule = found
                result[pk] = (rc, texts[rule.pk])
            elif default is not None:
                result[pk] = (default, no_match)
    return result


def _first_match(
    scheme: Scheme, facts: dict[str, dict[int, int]], pk: int
) -> tuple[RiskClass, ClassRule] | None:
    for rc in scheme.classes:
        for rule in rc.rules.all():
            if not _evaluable(rule):
                continue
            value = facts[rule.condition].get(pk)
            if value is None:
                continue
            threshold = 1 if rule.condition in BOOLEAN_CONDITIONS else rule.threshold
            assert threshold is not None
            if _FACTS[rule.condition].matches(value, threshold):
                return rc, rule
    return None


def classify(institution: Institution, today: dt.date | None = None) -> tuple[RiskClass | None, str]:
    """The derived class and reason of one institution (None when the scheme has no default)."""
    return classify_many([institution], today).get(institution.pk, (None, ""))

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

Services
--------
- ``classify_many()``: derive (class, reason) for many institutions with one load of the scheme.
- ``reclassify()``: store the derived class where it changed (history row and audit event per change);
  idempotent. Called by the registry's update service for one institution, by the nightly job
  (``tasks.reclassify_all``), and — through the worker — after every scheme change.
- ``set_override()`` / ``clear_override()``: a class set by hand, with a mandatory reason.
- ``save_class()``, ``set_default_class()``, ``save_rule()``, ``delete_rule()``: scheme editing,
  permission ``institutions.change_riskclass``.

Reasons are stored in the site language (``settings.LANGUAGE_CODE``) whatever the language of the
request, so that reclassifying from a request in another language does not look like a change.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from minan.audit.services import diff, record, snapshot
from minan.core.errors import DomainError, NotPermitted, OutOfScope

from .models import ClassRule, Institution, InstitutionChange, InsurancePolicy, RiskClass

Condition = ClassRule.Condition
FactSource = Callable[[list[int], dt.date], dict[int, int]]
Matcher = Callable[[int, int], bool]

CHUNK_SIZE = 500
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


# --- Reclassification ----------------------------------------------------------------------------

_LOAD_FIELDS = ("id", "region_path", "risk_class_id", "risk_class_reason")


def reclassify(
    institutions: QuerySet[Institution] | Sequence[Institution],
    actor: Any = None,
    today: dt.date | None = None,
    request: Any = None,
) -> int:
    """Store the derived class of these institutions where it (or its reason) changed; return how many.

    Each chunk of 500 is one transaction: current values are read inside it, each change is a
    conditional UPDATE (skipped when someone else changed the row meanwhile), an `InstitutionChange`
    row ("class.derived") and an audit event "institution.reclassify". Running it again changes nothing.
    Institution objects passed in a list get their `risk_class` / `risk_class_reason` refreshed.
    """
    today = today or timezone.localdate()
    scheme = load_scheme()
    changed = 0
    if isinstance(institutions, QuerySet):
        ordered = institutions.order_by("pk")
        last = 0
        while True:
            ids = list(ordered.filter(pk__gt=last).values_list("pk", flat=True)[:CHUNK_SIZE])
            if not ids:
                break
            changed += _reclassify_chunk(ids, scheme, actor, today, request, {})
            last = ids[-1]
    else:
        objects = list(institutions)
        for start in range(0, len(objects), CHUNK_SIZE):
            part = objects[start : start + CHUNK_SIZE]
            changed += _reclassify_chunk(
                [o.pk for o in part], scheme, actor, today, request, {o.pk: o for o in part}
            )
    return changed


def _reclassify_chunk(
    ids: list[int],
    scheme: Scheme,
    actor: Any,
    today: dt.date,
    request: Any,
    given: dict[int, Institution],
) -> int:
    changed = 0
    with transaction.atomic():
        current = list(Institution.objects.filter(pk__in=ids).only(*_LOAD_FIELDS).order_by("pk"))
        derived = classify_many(current, today, scheme=scheme)
        history: list[InstitutionChange] = []
        # First classification (no class yet, e.g. a fresh import): grouped bulk UPDATEs and one summary
        # audit event per chunk; a change of an existing class gets its own audit event.
        first: dict[tuple[int | None, str], list[int]] = {}
        for inst in current:
            new_class, reason = derived.get(inst.pk, (None, ""))
            new_id = new_class.pk if new_class else None
            if new_id == inst.risk_class_id and reason == inst.risk_class_reason:
                continue
            old_code = scheme.code_of(inst.risk_class_id)
            new_code = new_class.code if new_class else None
            if inst.risk_class_id is None:
                first.setdefault((new_id, reason), []).append(inst.pk)
            else:
                updated = Institution.objects.filter(
                    pk=inst.pk, risk_class_id=inst.risk_class_id, risk_class_reason=inst.risk_class_reason
                ).update(risk_class_id=new_id, risk_class_reason=reason)
                if not updated:
                    continue
                record(
                    "institution.reclassify",
                    user=actor,
                    request=request,
                    obj=inst,
                    changes={"risk_class": [old_code, new_code]},
                    detail=reason,
                )
            history.append(
                InstitutionChange(
                    institution_id=inst.pk,
                    user=actor if getattr(actor, "pk", None) else None,
                    action="class.derived",
                    changes={"risk_class": [old_code, new_code]},
                    reason=reason,
                )
            )
            changed += 1
            if inst.pk in given:
                given[inst.pk].risk_class = new_class
                given[inst.pk].risk_class_reason = reason
        summary: list[str] = []
        for (new_id, reason), pks in first.items():
            Institution.objects.filter(pk__in=pks, risk_class__isnull=True).update(
                risk_class_id=new_id, risk_class_reason=reason
            )
            summary.append(f"{scheme.code_of(new_id)}×{len(pks)}")
        if first:
            record(
                "institution.reclassify",
                user=actor,
                request=request,
                object_type="institutions.institution",
                object_id=ids[0] if len(ids) == 1 else "",
                detail=("first classification: " + ", ".join(summary))[:500],
            )
        InstitutionChange.objects.bulk_create(history)
    return changed


# --- Manual override -----------------------------------------------------------------------------


def _check_override_rights(actor: Any, institution: Institution) -> None:
    if actor is None or not actor.has_perm(OVERRIDE_PERMISSION):
        raise NotPermitted(_("You do not have permission to do this."))
    if not Institution.objects.for_user(actor, "change").filter(pk=institution.pk).exists():
        raise OutOfScope(_("The institution is outside your scope."))


@transaction.atomic
def set_override(
    actor: Any, institution: Institution, risk_class: RiskClass, reason: str, request: Any = None
) -> Institution:
    """Set the class by hand; it wins over the derived class until cleared. A reason is mandatory."""
    _check_override_rights(actor, institution)
    reason = (reason or "").strip()
    if len(reason) < MIN_REASON_LENGTH:
        raise DomainError(
            _("Give a reason for setting the class by hand (at least %(n)d characters).")
            % {"n": MIN_REASON_LENGTH},
            field="reason",
        )
    if len(reason) > REASON_MAX:
        raise DomainError(
            _("The reason is limited to %(n)d characters.") % {"n": REASON_MAX},
            code="too_long",
            field="reason",
        )
    if risk_class is None or not RiskClass.objects.filter(pk=risk_class.pk).exists():
        raise DomainError(_("Choose a class."), field="risk_class")
    row = Institution.objects.select_for_update().only("id", "class_override_id").get(pk=institution.pk)
    old_code = RiskClass.objects.filter(pk=row.class_override_id).values_list("code", flat=True).first()
    Institution.objects.filter(pk=institution.pk).update(
        class_override=risk_class, class_override_reason=reason
    )
    changes = {"class_override": [old_code, risk_class.code]}
    InstitutionChange.objects.create(
        institution=institution, user=actor, action="class.override", changes=changes, reason=reason
    )
    institution.class_override = risk_class
    institution.class_override_reason = reason
    record(
        "institution.class_override",
        user=actor,
        request=request,
        obj=institution,
        changes=changes,
        detail=reason,
    )
    return institution


@transaction.atomic
def clear_override(actor: Any, institution: Institution, request: Any = None) -> bool:
    """Remove the class set by hand; the derived class applies again. False when none was set."""
    _check_override_rights(actor, institution)
    row = Institution.objects.select_for_update().only("id", "class_override_id").get(pk=institution.pk)
    if row.class_override_id is None:
        return False
    old_code = RiskClass.objects.filter(pk=row.class_override_id).values_list("code", flat=True).first()
    Institution.objects.filter(pk=institution.pk).update(class_override=None, class_override_reason="")
    changes = {"class_override": [old_code, None]}
    InstitutionChange.objects.create(
        institution=institution, user=actor, action="class.override_clear", changes=changes
    )
    institution.class_override = None
    institution.class_override_reason = ""
    record("institution.class_override_clear", user=actor, request=request, obj=institution, changes=changes)
    return True


# --- Scheme editing ------------------------------------------------------------------------------

CLASS_FIELDS = (
    "code",
    "label",
    "colour",
    "order",
    "min_inspections_per_year",
    "always_sample",
    "sample_weight",
    "is_default",
)
RULE_FIELDS = ("risk_class_id", "condition", "threshold", "order")


def _require_scheme_editor(actor: Any) -> None:
    if actor is None or not actor.has_perm(SCHEME_PERMISSION):
        raise NotPermitted(_("You do not have permission to do this."))


def _reclassify_after_commit(actor: Any) -> None:
    """Reclassify every institution in the worker once the scheme change is committed."""
    from . import tasks

    actor_id = getattr(actor, "pk", None)
    transaction.on_commit(lambda: tasks.reclassify_all_async(actor_id))


def _int(data: dict[str, Any], name: str, default: int, *, minimum: int, maximum: int, message: str) -> int:
    raw = data.get(name, default)
    try:
        value = int(default if raw in (None, "") else raw)
    except (TypeError, ValueError):
        raise DomainError(message, field=name) from None
    if not minimum <= value <= maximum:
        raise DomainError(message, field=name)
    return value


def _other_classes(instance: RiskClass | None) -> QuerySet[RiskClass]:
    return (
        RiskClass.objects.exclude(pk=instance.pk)
        if instance is not None and instance.pk
        else RiskClass.objects.all()
    )


def _clean_class(data: dict[str, Any], instance: RiskClass | None) -> dict[str, Any]:
    code = str(data.get("code") or "").strip()
    if not code or len(code) > 10:
        raise DomainError(_("Enter a code of at most 10 characters."), field="code")
    if _other_classes(instance).filter(code=code).exists():
        raise DomainError(_("Another class already has the code %(code)s.") % {"code": code}, field="code")
    label = str(data.get("label") or "").strip()
    if not label or len(label) > 30:
        raise DomainError(_("Enter a label of at most 30 characters."), field="label")
    colour = str(data.get("colour") or "").strip()
    if not COLOUR_RE.match(colour):
        raise DomainError(_("Enter the colour as #RRGGBB, for example #27AE60."), field="colour")
    try:
        weight = Decimal(str(data.get("sample_weight", 1))).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        raise DomainError(_("Enter a weight between 0 and 999.99."), field="sample_weight") from None
    if not Decimal(0) <= weight < Decimal(1000):
        raise DomainError(_("Enter a weight between 0 and 999.99."), field="sample_weight")
    return {
        "code": code,
        "label": label,
        "colour": colour.upper(),
        "order": _int(
            data, "order", 0, minimum=0, maximum=32767, message=_("Enter an order from 0 to 32767.")
        ),
        "min_inspections_per_year": _int(
            data,
            "min_inspections_per_year",
            1,
            minimum=1,
            maximum=366,
            message=_("Enter at least 1 and at most 366 on-site inspections per year."),
        ),
        "always_sample": bool(data.get("always_sample", False)),
        "sample_weight": weight,
        "is_default": bool(data.get("is_default", False)),
    }


@transaction.atomic
def save_class(
    actor: Any, data: dict[str, Any], *, instance: RiskClass | None = None, request: Any = None
) -> RiskClass:
    """Create a class (instance None) or change one. The scheme keeps exactly one default class:
    marking a second class as default is refused (use `set_default_class` to move it), and so is
    unmarking the only default."""
    _require_scheme_editor(actor)
    list(RiskClass.objects.select_for_update().values_list("pk", flat=True))  # serialise scheme edits
    values = _clean_class(data, instance)
    other_defaults = _other_classes(instance).filter(is_default=True)
    if values["is_default"] and other_defaults.exists():
        raise DomainError(
            _(
                "Class %(code)s is already the default class; there must be exactly one. Use “make default” to move it."
            )
            % {"code": other_defaults.values_list("code", flat=True).first()},
            code="two_defaults",
            field="is_default",
        )
    if not values["is_default"] and not other_defaults.exists():
        raise DomainError(
            _("The scheme needs exactly one default class; mark another class as default instead."),
            code="no_default",
            field="is_default",
        )
    risk_class = instance if instance is not None else RiskClass()
    before = snapshot(risk_class, CLASS_FIELDS) if instance is not None else {}
    for name, value in values.items():
        setattr(risk_class, name, value)
    changes = diff(before, snapshot(risk_class, CLASS_FIELDS))
    if not changes:
        return risk_class
    risk_class.save()
    record("riskclass.change", user=actor, request=request, obj=risk_class, changes=changes)
    _reclassify_after_commit(actor)
    return risk_class


@transaction.atomic
def set_default_class(actor: Any, risk_class: RiskClass, *, request: Any = None) -> RiskClass:
    """Make this class the one default class (the previous default stops being one)."""
    _require_scheme_editor(actor)
    list(RiskClass.objects.select_for_update().values_list("pk", flat=True))
    previous = list(RiskClass.objects.filter(is_default=True).exclude(pk=risk_class.pk))
    if not previous and RiskClass.objects.filter(pk=risk_class.pk, is_default=True).exists():
        return risk_class
    RiskClass.objects.filter(pk__in=[rc.pk for rc in previous]).update(is_default=False)
    RiskClass.objects.filter(pk=risk_class.pk).update(is_default=True)
    risk_class.is_default = True
    for rc in previous:
        record("riskclass.change", user=actor, request=request, obj=rc, changes={"is_default": [True, False]})
    record(
        "riskclass.change", user=actor, request=request, obj=risk_class, changes={"is_default": [False, True]}
    )
    _reclassify_after_commit(actor)
    return risk_class


@transaction.atomic
def save_rule(
    actor: Any,
    *,
    risk_class: RiskClass,
    condition: str,
    threshold: int | None = None,
    order: int = 0,
    instance: ClassRule | None = None,
    request: Any = None,
) -> ClassRule:
    """Create or change a rule. Conditions that take N need a threshold ≥ 1; boolean ones take none."""
    _require_scheme_editor(actor)
    if risk_class is None or not RiskClass.objects.filter(pk=risk_class.pk).exists():
        raise DomainError(_("Choose a class."), field="risk_class")
    if condition not in Condition.values:
        raise DomainError(_("Choose a condition."), field="condition")
    if condition in BOOLEAN_CONDITIONS:
        if threshold not in (None, ""):
            raise DomainError(_("This condition takes no threshold N; leave it empty."), field="threshold")
        threshold = None
    else:
        if threshold in (None, ""):
            raise DomainError(_("This condition needs a threshold N."), field="threshold")
        try:
            threshold = int(threshold)
        except (TypeError, ValueError):
            raise DomainError(_("Enter N as a whole number from 1 to 100000."), field="threshold") from None
        if not 1 <= threshold <= 100000:
            raise DomainError(_("Enter N as a whole number from 1 to 100000."), field="threshold")
    order = _int(
        {"order": order}, "order", 0, minimum=0, maximum=32767, message=_("Enter an order from 0 to 32767.")
    )
    rule = instance if instance is not None else ClassRule()
    before = snapshot(rule, RULE_FIELDS) if instance is not None else {}
    rule.risk_class = risk_class
    rule.condition = condition
    rule.threshold = threshold
    rule.order = order
    changes = diff(before, snapshot(rule, RULE_FIELDS))
    if not changes:
        return rule
    rule.save()
    record(
        "classrule.change",
        user=actor,
        request=request,
        obj=rule,
        changes=changes,
        detail=f"{risk_class.code}: {rule_text(rule)}"[:500],
    )
    _reclassify_after_commit(actor)
    return rule


@transaction.atomic
def delete_rule(actor: Any, rule: ClassRule, *, request: Any = None) -> None:
    _require_scheme_editor(actor)
    record(
        "classrule.delete",
        user=actor,
        request=request,
        obj=rule,
        changes=diff(snapshot(rule, RULE_FIELDS), {}),
        detail=f"{rule.risk_class.code}: {rule_text(rule)}"[:500],
    )
    rule.delete()
    _reclassify_after_commit(actor)

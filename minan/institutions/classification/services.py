"""Writes of the risk classification: storing derived classes, classes set by hand, scheme editing.

How a class is derived (facts, scheme, rules in words) is in `minan.institutions.classification.derive`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from huey.contrib.djhuey import db_task

from minan.core.audit.services import diff, record, snapshot
from minan.core.errors import DomainError, NotPermitted, OutOfScope

from ..models import ClassRule, Institution, InstitutionChange, RiskClass
from .derive import (
    BOOLEAN_CONDITIONS,
    COLOUR_RE,
    MIN_REASON_LENGTH,
    OVERRIDE_PERMISSION,
    REASON_MAX,
    SCHEME_PERMISSION,
    Condition,
    Scheme,
    classify_many,
    load_scheme,
    rule_text,
)

CHUNK_SIZE = 500

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


@db_task()
def reclassify_all_async(actor_id: int | None = None) -> int:
    """After a scheme change: every institution, attributed to the administrator who changed it
    (registered with the worker by the app's tasks module)."""
    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    return reclassify(Institution.objects.all(), actor=actor)


def _reclassify_after_commit(actor: Any) -> None:
    """Reclassify every institution in the worker once the scheme change is committed."""
    actor_id = getattr(actor, "pk", None)
    transaction.on_commit(lambda: reclassify_all_async(actor_id))


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

"""The only writer of the criteria catalogue: criteria sets and their clauses.

The catalogue is reference data of the whole deployment, not scoped by region. Administrators holding
`hazards.change_criteriaset` enter the official texts as they become known; MinAn ships no guessed
texts. A superseded set stays readable and hazards keep their clauses; a clause a hazard refers to
cannot be deleted. Every change is audited with a field-by-field diff.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.core.validators import slug_re
from django.db import IntegrityError, transaction
from django.db.models import Max, ProtectedError
from django.utils.translation import gettext as _

from minan.core.audit.services import diff, record, snapshot
from minan.core.errors import DomainError, NotPermitted
from minan.hazards.models import Clause, CriteriaSet, Hazard

EDIT_PERMISSION = "hazards.change_criteriaset"
SET_FIELDS = (
    "code", "title", "issuer", "issued_on", "effective_on", "active", "local", "makes_major", "expected_items",
    "source", "superseded_by",
)  # fmt: skip
CLAUSE_FIELDS = ("key", "group", "text", "text_en", "complete", "order")
MAX_EXPECTED_ITEMS = 500
MAX_ORDER = 32767
# Upper-case letters and digits in groups joined by dashes: MCA2023-6-2.
CLAUSE_KEY = re.compile(r"^[A-Z0-9]+(?:-[A-Z0-9]+)*$")


def _clause_facts(clause: Clause) -> dict[str, Any]:
    """The audited facts of a clause. Its key is recorded as "clause": the audit diff masks any field
    whose name contains "key" as a secret."""
    facts = snapshot(clause, CLAUSE_FIELDS)
    facts["clause"] = facts.pop("key")
    return facts


def _require(actor: Any) -> None:
    if actor is None or not actor.has_perm(EDIT_PERMISSION):
        raise NotPermitted(_("You do not have permission to do this."))


def _unknown(fields: dict[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise DomainError(
            _("Unknown field: %(name)s.") % {"name": unknown[0]}, field=unknown[0], code="unknown_field"
        )


def _text(values: dict[str, Any], name: str, limit: int, *, required_message: str | None = None) -> str:
    value = values.get(name)
    text = "" if value is None else str(value).strip()
    if required_message is not None and not text:
        raise DomainError(required_message, field=name, code="required")
    if len(text) > limit:
        raise DomainError(_("At most %(limit)d characters.") % {"limit": limit}, field=name, code="too_long")
    return text


def _date(values: dict[str, Any], name: str) -> dt.date | None:
    value = values.get(name)
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise DomainError(_("Enter a date."), field=name, code="invalid_date")
    return value


def _int(values: dict[str, Any], name: str, maximum: int, message: str) -> int:
    value = values.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise DomainError(message, field=name, code="out_of_range")
    return value


def _superseded_by(target: CriteriaSet, successor: Any) -> CriteriaSet | None:
    """The successor must be another saved set, and following the chain from it must never come back."""
    if successor is None:
        return None
    if not isinstance(successor, CriteriaSet) or not successor.pk:
        raise DomainError(_("Choose a criteria set."), field="superseded_by", code="invalid")
    if target.pk and successor.pk == target.pk:
        raise DomainError(
            _("A criteria set cannot supersede itself."), field="superseded_by", code="supersede_self"
        )
    links = dict(CriteriaSet.objects.values_list("pk", "superseded_by_id"))
    if successor.pk not in links:
        raise DomainError(_("Choose a criteria set."), field="superseded_by", code="invalid")
    seen: set[int] = set()
    step: int | None = successor.pk
    while step is not None and step not in seen:
        if target.pk and step == target.pk:
            raise DomainError(
                _("%(code)s is already superseded, directly or through other sets, by this set.")
                % {"code": successor.code},
                field="superseded_by",
                code="supersede_cycle",
            )
        seen.add(step)
        step = links.get(step)
    return successor


def _clean_set(values: dict[str, Any], target: CriteriaSet) -> dict[str, Any]:
    code = _text(values, "code", 40, required_message=_("Enter a code."))
    if not slug_re.match(code):
        raise DomainError(
            _("Use letters, digits, hyphens and underscores only, e.g. mca-2023-elderly-major."),
            field="code",
            code="invalid_code",
        )
    if CriteriaSet.objects.filter(code=code).exclude(pk=target.pk).exists():
        raise DomainError(
            _("Another criteria set already has the code %(code)s.") % {"code": code},
            field="code",
            code="duplicate",
        )
    cleaned: dict[str, Any] = {
        "code": code,
        "title": _text(values, "title", 200, required_message=_("Enter the title of the criteria set.")),
        "issuer": _text(values, "issuer", 100),
        "source": _text(values, "source", 300),
        "issued_on": _date(values, "issued_on"),
        "effective_on": _date(values, "effective_on"),
        "active": bool(values.get("active")),
        "local": bool(values.get("local")),
        "makes_major": bool(values.get("makes_major")),
        "expected_items": _int(
            values,
            "expected_items",
            MAX_EXPECTED_ITEMS,
            _("Enter the number of situations in the official text, from 0 to %(max)d.")
            % {"max": MAX_EXPECTED_ITEMS},
        ),
        "superseded_by": _superseded_by(target, values.get("superseded_by")),
    }
    issued, effective = cleaned["issued_on"], cleaned["effective_on"]
    if issued and effective and effective < issued:
        raise DomainError(
            _("The set cannot come into force before it was issued."),
            field="effective_on",
            code="effective_before_issued",
        )
    return cleaned


def _save_unique(obj: Any, *, field: str, message: str) -> None:
    """Save in a savepoint; a unique value taken meanwhile by someone else is a refusal, not a crash."""
    try:
        with transaction.atomic():
            obj.save()
    except IntegrityError:
        raise DomainError(message, field=field, code="duplicate") from None


@transaction.atomic
def save_set(
    actor: Any, criteria_set: CriteriaSet | None, *, request: Any = None, **fields: Any
) -> CriteriaSet:
    """Create a criteria set (`criteria_set` None) or change one. Fields left out keep their current
    value (on creation: the model's default). `superseded_by` is another set, never itself nor one of
    the sets this one supersedes; a superseded set stays readable and its clauses stay linked."""
    _require(actor)
    _unknown(fields, SET_FIELDS)
    creating = criteria_set is None
    target = (
        CriteriaSet()
        if criteria_set is None
        else CriteriaSet.objects.select_for_update().get(pk=criteria_set.pk)
    )
    before = {} if creating else snapshot(target, SET_FIELDS)
    values = {name: getattr(target, name) for name in SET_FIELDS}
    values.update(fields)
    for name, value in _clean_set(values, target).items():
        setattr(target, name, value)
    changes = diff(before, snapshot(target, SET_FIELDS))
    if not creating and not changes:
        return target
    _save_unique(
        target,
        field="code",
        message=_("Another criteria set already has the code %(code)s.") % {"code": target.code},
    )
    record("criteria.set_create" if creating else "criteria.set_change", user=actor, request=request,
           obj=target, changes=changes, detail=target.code)  # fmt: skip
    return target


@transaction.atomic
def save_clause(
    actor: Any, criteria_set: CriteriaSet, clause: Clause | None, *, request: Any = None, **fields: Any
) -> Clause:
    """Create a clause in `criteria_set` (`clause` None) or change one of its clauses. The key is unique
    across every set (e.g. MCA2023-6-2). A new clause without an order goes after the set's last one.
    The number of clauses is not capped by the set's expected items: the page shows "N of M loaded"."""
    _require(actor)
    _unknown(fields, CLAUSE_FIELDS)
    if criteria_set is None or not criteria_set.pk:
        raise DomainError(_("Choose a criteria set."), field="set", code="invalid")
    # Locking the set serialises the edits of its clauses (the next order, the count against expected).
    criteria_set = CriteriaSet.objects.select_for_update().get(pk=criteria_set.pk)
    creating = clause is None
    if clause is not None:
        clause = Clause.objects.select_for_update().filter(pk=clause.pk).first()
        if clause is None:
            raise DomainError(_("The clause no longer exists."), code="not_found")
        if clause.criteria_set_id != criteria_set.pk:
            raise DomainError(
                _("A clause stays in the criteria set it was entered in."),
                field="set",
                code="wrong_set",
            )
    target = clause if clause is not None else Clause(criteria_set=criteria_set)
    before = {} if creating else _clause_facts(target)
    values = {name: getattr(target, name) for name in CLAUSE_FIELDS}
    if creating:
        values["order"] = None
    values.update(fields)
    key = _text(values, "key", 40, required_message=_("Enter the key of the clause, e.g. MCA2023-6-2."))
    if not CLAUSE_KEY.match(key):
        raise DomainError(
            _("Use upper-case letters, digits and dashes only, e.g. MCA2023-6-2."),
            field="key",
            code="invalid_key",
        )
    duplicate_message = _("Another clause already has the key %(key)s.") % {"key": key}
    if Clause.objects.filter(key=key).exclude(pk=target.pk).exists():
        raise DomainError(duplicate_message, field="key", code="duplicate")
    order = values.get("order")
    if order in (None, ""):
        last = Clause.objects.filter(criteria_set=criteria_set).aggregate(last=Max("order"))["last"]
        order = 0 if last is None else min(last + 1, MAX_ORDER)
    target.key = key
    target.group = _text(values, "group", 100)
    target.text = _text(values, "text", 5000, required_message=_("Enter the text of the clause."))
    target.text_en = _text(values, "text_en", 5000)
    target.complete = bool(values.get("complete"))
    target.order = _int({"order": order}, "order", MAX_ORDER, _("Enter an order from 0 to 32767."))
    changes = diff(before, _clause_facts(target))
    if not creating and not changes:
        return target
    _save_unique(target, field="key", message=duplicate_message)
    record("criteria.clause_create" if creating else "criteria.clause_change", user=actor, request=request,
           obj=target, changes=changes, detail=f"{criteria_set.code} {key}")  # fmt: skip
    return target


@transaction.atomic
def delete_clause(actor: Any, clause: Clause, *, request: Any = None) -> None:
    """Delete a clause nothing refers to. A clause a hazard refers to stays (code `in_use`): hazards
    keep the clause they were judged by; correct its text instead."""
    _require(actor)
    # The row lock makes a hazard being reported against this clause wait for the decision.
    locked = Clause.objects.select_for_update().select_related("criteria_set").filter(pk=clause.pk).first()
    if locked is None:
        raise DomainError(_("The clause no longer exists."), code="not_found")
    # Whether any hazard refers to it, anywhere: the catalogue is deployment-wide, so is the refusal. How
    # many, and where, is region data and is not told.
    if Hazard.objects.filter(clause=locked).exists():
        raise DomainError(
            _("Hazards refer to clause %(key)s, so it cannot be deleted. Correct its text instead.")
            % {"key": locked.key},
            code="in_use",
        )
    pk, before, detail = (
        locked.pk,
        _clause_facts(locked),
        f"{locked.criteria_set.code} {locked.key}",
    )
    try:
        with transaction.atomic():
            locked.delete()
    except (ProtectedError, IntegrityError):  # other records (e.g. checklist items) refer to it
        raise DomainError(
            _("Other records refer to clause %(key)s, so it cannot be deleted. Correct its text instead.")
            % {"key": locked.key},
            code="in_use",
        ) from None
    record("criteria.clause_delete", user=actor, request=request, object_type="hazards.clause",
           object_id=pk, changes=diff(before, {}), detail=detail)  # fmt: skip

"""The escalation chains: who is told at each step of an alarm, the shipped defaults, and saving a
deployment's or an institution's own chain."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from minan.core.audit.services import record
from minan.core.errors import DomainError, NotPermitted, OutOfScope
from minan.firewatch.models import Alarm, EscalationChain
from minan.institutions.models import Institution

RECIPIENTS = {
    "duty_staff": gettext_lazy("institution on-duty staff"),
    "safety_commissioner": gettext_lazy("institution safety commissioner"),
    "cadre": gettext_lazy("responsible cadre (包保)"),
    "county_duty": gettext_lazy("county duty officer"),
    "city_office": gettext_lazy("city safety office"),
}

# Shipped defaults: fire repeats every 10 minutes until acknowledged, the other kinds once a day.
# Waits are minutes after the previous step.
DEFAULT_CHAINS: dict[str, dict[str, Any]] = {
    EscalationChain.Kind.FIRE: {
        "steps": [
            {"wait_minutes": 0, "notify": ["duty_staff"]},
            {"wait_minutes": 3, "notify": ["safety_commissioner"]},
            {"wait_minutes": 5, "notify": ["cadre", "county_duty"]},
            {"wait_minutes": 10, "notify": ["city_office"]},
        ],
        "repeat_minutes": 10,
    },
    EscalationChain.Kind.OTHER: {
        "steps": [
            {"wait_minutes": 0, "notify": ["duty_staff"]},
            {"wait_minutes": 240, "notify": ["safety_commissioner"]},
            {"wait_minutes": 1200, "notify": ["cadre"]},
        ],
        "repeat_minutes": 1440,
    },
}


def chain_kind(alarm: Alarm) -> str:
    return EscalationChain.Kind.FIRE if alarm.kind == "fire" else EscalationChain.Kind.OTHER


def validate_steps(steps: Any, repeat_minutes: Any) -> tuple[list[dict[str, Any]], int]:
    """The chain as entered, checked: at least one step, whole minutes ≥ 0, known recipients."""
    if not isinstance(steps, list) or not steps:
        raise DomainError(_("A chain needs at least one step."), field="steps")
    if len(steps) > 10:
        raise DomainError(_("A chain has at most 10 steps."), field="steps")
    clean = []
    for number, step in enumerate(steps, 1):
        if not isinstance(step, dict):
            raise DomainError(_("Step %(n)d is not valid.") % {"n": number}, field="steps")
        wait, notify = step.get("wait_minutes"), step.get("notify")
        if not isinstance(wait, int) or isinstance(wait, bool) or not 0 <= wait <= 7 * 24 * 60:
            raise DomainError(
                _("Step %(n)d: the wait is a whole number of minutes between 0 and 10080.") % {"n": number},
                field="steps",
            )
        if not isinstance(notify, list) or not notify or any(code not in RECIPIENTS for code in notify):
            raise DomainError(_("Step %(n)d: choose who is told.") % {"n": number}, field="steps")
        clean.append({"wait_minutes": wait, "notify": list(dict.fromkeys(notify))})
    if (
        not isinstance(repeat_minutes, int)
        or isinstance(repeat_minutes, bool)
        or not 0 <= repeat_minutes <= 10080
    ):
        raise DomainError(_("Repeat every: whole minutes between 0 and 10080."), field="repeat_minutes")
    return clean, repeat_minutes


def chains_for(institution_ids: set[int]) -> dict[tuple[int | None, str], dict[str, Any]]:
    """The chain rows that apply to these institutions, keyed (institution or None, kind)."""
    rows = EscalationChain.objects.filter(
        Q(institution_id__in=institution_ids) | Q(institution_id__isnull=True)
    )
    return {(c.institution_id, c.kind): {"steps": c.steps, "repeat_minutes": c.repeat_minutes} for c in rows}


def chain_of(alarm: Alarm, rows: dict[tuple[int | None, str], dict[str, Any]]) -> dict[str, Any]:
    kind = chain_kind(alarm)
    return rows.get((alarm.institution_id, kind)) or rows.get((None, kind)) or DEFAULT_CHAINS[kind]


@transaction.atomic
def save_chain(
    actor: Any,
    kind: str,
    steps: Any,
    repeat_minutes: Any,
    *,
    institution: Any = None,
    request: Any = None,
) -> EscalationChain:
    """Set the deployment's default chain for a kind, or an institution's own."""
    if not actor.has_perm("firewatch.change_escalationchain"):
        raise NotPermitted(_("You do not have permission to do this."))
    if institution is not None and not Institution.objects.for_user(actor).filter(pk=institution.pk).exists():
        raise OutOfScope(_("Institution not found."))
    if kind not in EscalationChain.Kind.values:
        raise DomainError(_("Choose which alarms the chain applies to."), field="kind")
    clean, repeat = validate_steps(steps, repeat_minutes)
    chain, created = EscalationChain.objects.update_or_create(
        institution=institution, kind=kind, defaults={"steps": clean, "repeat_minutes": repeat}
    )
    record("escalation_chain.save", user=actor, request=request, obj=chain,
           detail=f"{institution.pk if institution else 'default'} {kind} {len(clean)} steps",
           changes={"steps": clean, "repeat_minutes": repeat})  # fmt: skip
    return chain


@transaction.atomic
def reset_chain(actor: Any, kind: str, *, institution: Any = None, request: Any = None) -> int:
    """Remove an institution's own chain (or the saved default), so the next one up applies again."""
    if not actor.has_perm("firewatch.change_escalationchain"):
        raise NotPermitted(_("You do not have permission to do this."))
    if institution is not None and not Institution.objects.for_user(actor).filter(pk=institution.pk).exists():
        raise OutOfScope(_("Institution not found."))
    deleted, _rows = EscalationChain.objects.filter(institution=institution, kind=kind).delete()
    if deleted:
        record("escalation_chain.reset", user=actor, request=request, object_type="firewatch.escalationchain",
               detail=f"{institution.pk if institution else 'default'} {kind}")  # fmt: skip
    return deleted

"""The closed loop as a table: which move goes from which states to which,
and what permission it needs. Services refuse anything not in the table; the API returns the moves
allowed next.

    reported → assigned → rectifying → submitted → accepted → closed (销号)
                                        submitted → rejected → rectifying
    any open state → cancelled (reason; supervisors)
    立行立改: reported with on-site evidence goes straight to submitted (acceptance by someone else).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Q
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from .models import Hazard

S = Hazard.Status
OPEN_STATES = frozenset({S.REPORTED, S.ASSIGNED, S.RECTIFYING, S.SUBMITTED, S.REJECTED, S.ACCEPTED})
# While the institution works on it, a hazard's deadline can be extended and its clock paused.
IN_RECTIFICATION = frozenset({S.ASSIGNED, S.RECTIFYING, S.REJECTED})
# The 五落实 plan a major hazard needs before its rectification starts.
PLAN_FIELDS = ("plan_responsible", "plan_measures", "plan_funds", "plan_deadline", "plan_contingency")


def overdue_q(today: dt.date) -> Q:
    """Overdue is a flag, not a state: open, past the deadline, and the deadline
    clock not paused. Every page, figure and fact that says "overdue" uses this."""
    return Q(status__in=OPEN_STATES, deadline__lt=today, paused_since__isnull=True)


@dataclass(frozen=True)
class Move:
    action: str
    label: str | Promise
    sources: frozenset[str]
    target: str
    permission: str
    needs_comment: bool = False


MOVES: dict[str, Move] = {
    m.action: m
    for m in (
        Move("assign", _("Issue rectification notice"), frozenset({S.REPORTED}), S.ASSIGNED, "hazards.assign_hazard"),
        Move("start", _("Start rectification"), frozenset({S.ASSIGNED}), S.RECTIFYING, "hazards.rectify_hazard"),
        Move("submit", _("Submit for acceptance"), frozenset({S.RECTIFYING}), S.SUBMITTED, "hazards.rectify_hazard"),
        Move("accept", _("Accept"), frozenset({S.SUBMITTED}), S.ACCEPTED, "hazards.accept_hazard"),
        Move("reject", _("Reject"), frozenset({S.SUBMITTED}), S.REJECTED, "hazards.accept_hazard", needs_comment=True),
        Move("resume", _("Resume rectification"), frozenset({S.REJECTED}), S.RECTIFYING, "hazards.rectify_hazard"),
        Move("close", _("Close (销号)"), frozenset({S.ACCEPTED}), S.CLOSED, "hazards.close_hazard"),
        Move("cancel", pgettext_lazy("hazard move", "Cancel"), OPEN_STATES, S.CANCELLED, "hazards.cancel_hazard", needs_comment=True),
    )
}  # fmt: skip


def moves_from(status: str) -> list[Move]:
    return [m for m in MOVES.values() if status in m.sources]

"""Writers of the hazard closed loop, one module per concept: `loop` (report, moves, plan),
`deadlines` (extensions and pauses), `escalation` (reminders and escalations).
Callers use the names re-exported here: `from minan.hazards import services as hazards`."""

from .deadlines import (
    EXTENDABLE,
    decide_extension,
    decide_pause,
    request_extension,
    request_pause,
    resume,
)
from .escalation import ESCALATION_STEPS, WorkingDayIndex, escalate_due, escalation_step
from .loop import MAX_FILES, add_finding, facts_changed, report, transition, update_plan

__all__ = [
    "ESCALATION_STEPS",
    "EXTENDABLE",
    "MAX_FILES",
    "WorkingDayIndex",
    "add_finding",
    "decide_extension",
    "decide_pause",
    "escalate_due",
    "escalation_step",
    "facts_changed",
    "report",
    "request_extension",
    "request_pause",
    "resume",
    "transition",
    "update_plan",
]

"""The alarm writers, by concept: escalation chains, escalation, handling by people, findings that become hazards.
Callers use the names re-exported here: `from minan.firewatch.alarms import services`."""

from .chains import DEFAULT_CHAINS, RECIPIENTS, chains_for, reset_chain, save_chain, validate_steps
from .escalation import escalate_due, start
from .findings import fault_hazards, unanswered_duty_checks
from .handling import acknowledge, clean_close_detail, clear, close, false_alarm_causes, still_reported

__all__ = [
    "DEFAULT_CHAINS",
    "RECIPIENTS",
    "acknowledge",
    "chains_for",
    "clean_close_detail",
    "clear",
    "close",
    "escalate_due",
    "false_alarm_causes",
    "fault_hazards",
    "reset_chain",
    "save_chain",
    "start",
    "still_reported",
    "unanswered_duty_checks",
    "validate_steps",
]

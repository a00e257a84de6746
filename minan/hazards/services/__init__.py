"""Writers of the hazard closed loop, one module per concept: `loop` (report, moves, plan),
`deadlines` (extensions and pauses), `escalation` (reminders and escalations)."""

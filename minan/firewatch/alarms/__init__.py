"""Alarms: the alarm writers (escalation, handling, findings), the board and its pages, the escalation-chain pages, the alarm API."""

"""The alarm writers, by concept: escalation chains, escalation, handling by people, findings that become hazards."""

"""The alarm pages by concept: the board, the alarm list and detail, the escalation chains."""

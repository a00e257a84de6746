"""Inspection plans and the tasks they generate: periods, generation, assignment, missed tasks; pages and API."""

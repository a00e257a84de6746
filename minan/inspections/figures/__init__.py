"""Inspection figures: coverage, self-inspection compliance and results (page, xlsx export, API)."""

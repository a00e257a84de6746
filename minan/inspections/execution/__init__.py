"""Carrying out an inspection: start, answers and photos, submit or cancel, the pages, API and PDF report."""

"""Checklists: versioned families of sections and items, their pages, API and xlsx import/export."""

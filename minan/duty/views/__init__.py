"""The 包保 pages by concept: assignments (coverage, bulk and xlsx assignment), visits (my institutions,
duty visits), the 一行一册 ledger, supervision groups and duty lists (posts)."""

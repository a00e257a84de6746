"""Fire-monitoring statistics: the figures (selectors), their page and API."""

"""Hazard figures (rates, on-time, 动态清零) of a scope for a period: the selectors, the page and the API."""

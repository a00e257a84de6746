"""回头看 (revisits): closed hazards drawn for re-verification, their outcomes, page and API."""

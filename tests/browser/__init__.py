"""End-to-end tests in headless Debian Chromium (marker `browser`)."""

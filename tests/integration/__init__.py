"""Tests against real services: Redis for Huey (marker `integration`)."""

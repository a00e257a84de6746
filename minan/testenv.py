"""Loaded by pytest as a plugin (`-p minan.testenv` in pyproject.toml), before pytest-django reads
the settings: a bare `pytest` runs with MINAN_ENV=test as `make test` does (Huey tasks run at once,
fast password hashing), not with the development settings."""

import os

os.environ.setdefault("MINAN_ENV", "test")

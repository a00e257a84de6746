"""`minan`: the project's command line, a thin wrapper around manage.py.

`minan --help` lists the project's own subcommands; `minan help` lists every Django command too.
"""

from __future__ import annotations

import os
import sys

# The project's own commands, each with one line of help (kept in step by a test).
COMMANDS = {
    "serve": "Start the platform: web server, Huey worker and ingest process, supervised together.",
    "demo-data": "Build the Jining demo: region tree, institutions and one user per role (idempotent).",
    "regions": "Region tree: `regions load FILE.csv|xlsx` loads or updates a tree; `regions export`.",
    "audit": "Audit trail: `audit verify` checks the keyed chain and its anchors; `audit anchor`, `audit archive`, `audit rotate-key`.",
    "accounts": "Accounts: `accounts create`, `accounts disable-dormant`, `accounts unlock USER`, `accounts reset-totp USER`.",
    "calendar": "Working-day calendar: `calendar status`, `calendar add-working-days DATE N`.",
    "ingest": "Receive fire-monitoring signals (MQTT, GB/T 26875.3 TCP); run the offline and escalation sweeps.",
    "simulate": "Simulated fire-monitoring devices: heartbeats, readings, faults and fire alarms over MQTT, HTTP or GB/T 26875.3.",
}


def run_django(argv: list[str]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "minan.settings")
    # Imported here: the launcher reads its own commands and help without loading Django.
    from django.core.management import execute_from_command_line

    execute_from_command_line(argv)


def usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = [
        "usage: minan <command> [options]",
        "",
        "MinAn 民安 — safety supervision of civil-affairs service institutions.",
        "",
        "Commands:",
        *(f"  {name.ljust(width)}  {text}" for name, text in COMMANDS.items()),
        "",
        "Every Django command works too (migrate, createsuperuser, ...): `minan help` lists them,",
        "`minan <command> --help` explains one. Settings come from the environment (docs/operations.md).",
    ]
    return "\n".join(lines)


def main() -> None:
    argv = sys.argv[:]
    if len(argv) < 2 or argv[1] in {"-h", "--help"}:
        print(usage())
        return
    # Project commands are spelled with hyphens (demo-data); Django modules use underscores.
    command = argv[1].replace("-", "_") if argv[1] in COMMANDS else argv[1]
    run_django(["minan", command, *argv[2:]])


if __name__ == "__main__":
    main()

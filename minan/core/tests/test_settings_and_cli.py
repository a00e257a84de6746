"""Settings from the environment, production hardening, and the `minan` command line."""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command, get_commands
from django.urls import reverse

from conftest import login_client
from minan.cli import COMMANDS, usage

ROOT = Path(__file__).resolve().parents[3]


def run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "MINAN_ENV", "DATABASE_URL"}}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=120
    )


def test_production_refuses_the_development_secret() -> None:
    result = run(["manage.py", "check"], MINAN_ENV="production")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_check_deploy_reports_nothing(tmp_path: Path) -> None:
    result = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        MINAN_ENV="production",
        SECRET_KEY="k" * 10 + "Zq8#vL2@pX9!mW4$rT7^yU1&iO5*aS3(dF6)gH0_jK" + "e" * 20,
        MINAN_AUDIT_KEY="a" * 48,
        ALLOWED_HOSTS="minan.example.gov.cn",
        MINAN_VAR_DIR=str(tmp_path),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_unknown_environment_is_refused() -> None:
    result = run(["manage.py", "check"], MINAN_ENV="staging")
    assert result.returncode != 0 and "MINAN_ENV" in result.stderr


def test_a_new_var_dir_is_created_on_first_use(tmp_path: Path) -> None:
    var = tmp_path / "new" / "var"
    result = run(["manage.py", "check"], MINAN_ENV="development", MINAN_VAR_DIR=str(var))
    assert result.returncode == 0, result.stderr
    assert var.is_dir()


def test_a_var_dir_that_cannot_be_created_is_one_clear_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = run(["manage.py", "check"], MINAN_ENV="development", MINAN_VAR_DIR=str(blocker / "var"))
    assert result.returncode != 0
    assert f"MINAN_VAR_DIR {blocker / 'var'} cannot be created: Not a directory" in result.stderr
    assert "unable to open database file" not in result.stderr


def test_database_url_selects_the_database() -> None:
    code = "import django, os; django.setup(); from django.conf import settings; print(settings.DATABASES['default']['ENGINE'])"
    result = run(
        ["-c", code],
        MINAN_ENV="test",
        DATABASE_URL="postgres://u@127.0.0.1:5432/x",
        DJANGO_SETTINGS_MODULE="minan.settings",
    )
    assert result.stdout.strip() == "django.db.backends.postgresql"


def test_help_lists_every_project_command_with_one_line() -> None:
    result = run(["-m", "minan.cli", "--help"])
    assert result.returncode == 0
    for name, text in COMMANDS.items():
        assert f"  {name}" in result.stdout and text in result.stdout
    assert result.stdout.strip() == usage().strip()


def test_help_table_matches_the_project_commands() -> None:
    own = {name.replace("_", "-") for name, app in get_commands().items() if app.startswith("minan.")}
    assert own == set(COMMANDS), "minan.cli.COMMANDS must list exactly the project's own commands"


@pytest.mark.django_db
def test_demo_data_is_idempotent() -> None:
    from minan.accounts.models import User
    from minan.core.audit.chain import verify_chain
    from minan.institutions.models import Institution
    from minan.regions.models import Region

    out = StringIO()
    call_command("demo_data", stdout=out)
    counts = (Region.objects.count(), Institution.objects.count(), User.objects.count())
    assert counts[0] == 82 and 290 <= counts[1] <= 320
    # One account per role can sign in; commissioners are people on record without a password.
    assert sum(u.has_usable_password() for u in User.objects.all()) == 13
    assert "otpauth://totp/" in out.getvalue() and "Minan@2026" in out.getvalue()
    call_command("demo_data", stdout=StringIO())
    assert (Region.objects.count(), Institution.objects.count(), User.objects.count()) == counts
    assert verify_chain().ok
    rencheng = User.objects.get(username="rencheng")
    assert set(Institution.objects.for_user(rencheng).values_list("region__parent__code", flat=True)) <= {
        "370800",
        "370811",
    }
    assert not Institution.objects.for_user(rencheng).filter(region_path__contains="370883/").exists()


@pytest.mark.django_db
def test_home_figures_come_from_the_scope(
    client: Any, rencheng_officer: Any, city_office: Any, institutions: Any
) -> None:
    login_client(client, rencheng_officer)
    page = client.get(reverse("core:home")).content.decode()
    assert 'data-figure="institutions">2<' in page and 'data-figure="counties">1<' in page
    login_client(client, city_office)
    page = client.get(reverse("core:home")).content.decode()
    assert 'data-figure="institutions">4<' in page and 'data-figure="counties">2<' in page


def test_chinese_even_when_the_browser_asks_for_english(client: Any) -> None:
    page = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    assert 'lang="zh-hans"' in page and "<h1>登录</h1>" in page


@pytest.mark.django_db
def test_language_switch_to_english(client: Any, rencheng_officer: Any) -> None:
    login_client(client, rencheng_officer)
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    page = client.get(reverse("core:home")).content.decode()
    assert 'lang="en"' in page and "Institutions in your scope" in page


def test_translation_catalogue_is_complete() -> None:
    from babel.messages.pofile import read_po

    with open(ROOT / "minan/locale/zh_Hans/LC_MESSAGES/django.po", "rb") as fh:
        catalog = read_po(fh)
    missing = [
        m.id
        for m in catalog
        if m.id and (not m.string or (isinstance(m.string, tuple) and not all(m.string)))
    ]
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert not missing, f"untranslated: {missing[:10]}"
    assert not fuzzy, f"fuzzy: {fuzzy[:10]}"
    assert len(catalog) > 250

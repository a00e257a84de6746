"""`minan demo-data`: the Jining demo. Idempotent: running it again adds only what is missing."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from minan.accounts import services as accounts
from minan.accounts.models import User
from minan.accounts.roles import ADMIN_ROLES, ROLE_LABELS
from minan.duty import demo as duty_demo
from minan.duty.services import assign_cadre, remind_overdue_visits
from minan.firewatch import demo as firewatch_demo
from minan.hazards import demo as hazards_demo
from minan.inspections import demo as inspections_demo
from minan.inspections import demo_runs as inspection_runs
from minan.institutions import demo as registry
from minan.institutions.models import Institution
from minan.institutions.services import remind_expired_policies
from minan.notify import demo as notify_demo
from minan.notify.models import Notification
from minan.regions.models import Region
from minan.regions.services import load_regions

DEMO_PASSWORD = "Minan@2026"

# username, display name, role, home region code, scope (region codes or institution names), kinds
DEMO_USERS: list[tuple[str, str, str, str, list[str], list[str]]] = [
    ("sysadmin", "系统管理员", "system_admin", "370800", ["370800"], []),
    ("secadmin", "安全管理员", "security_admin", "370800", ["370800"], []),
    ("auditor", "审计管理员", "audit_admin", "370800", ["370800"], []),
    ("city_office", "市安全办 王主任", "city_safety_office", "370800", ["370800"], []),
    ("elderly_lead", "养老服务科 李科长", "sector_lead", "370800", ["370800"], ["elderly_care"]),
    # The supervisor's scope comes from leading 第一督导组 (minan/duty/demo.py), not from a grant.
    ("supervisor", "督导组 赵组长", "supervision_member", "370800", [], []),
    ("rencheng", "任城区民政局 张科长", "county_officer", "370811", ["370811"], []),
    ("zoucheng", "邹城市民政局 刘科长", "county_officer", "370883", ["370883"], []),
    ("cadre", "包保干部 陈干部", "cadre", "370811", ["任城区社会福利中心", "任城区古槐街道敬老院"], []),
    ("inspector", "检查员 孙工", "inspector", "370800", ["370800"], []),
    ("expert", "消防专家 周工", "expert", "370800", ["370800"], []),
    ("fire_dept", "市消防救援支队 吴参谋", "member_department", "370800", ["370800"], []),
    ("staff", "任城区社会福利中心 安全员", "institution_staff", "370811", ["任城区社会福利中心"], []),
]


def demo_totp_key(username: str) -> str:
    """A fixed key per demo administrator, so re-running the demo keeps the authenticator entry valid."""
    return hashlib.sha1(f"minan-demo-{username}".encode()).hexdigest()  # noqa: S324 (not a security use)


class Command(BaseCommand):
    help = "Build the Jining demo: region tree, institutions and one user per role (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        jining = Path(__file__).resolve().parents[3] / "regions" / "data" / "jining.csv"
        with transaction.atomic():
            result = load_regions(None, jining)
            registry.build(self.stdout)
            created = self._users()
            duty_demo.build(self.stdout)
            hazards_demo.build(self.stdout)
            inspections_demo.build(self.stdout)  # plans and their tasks
            notify_demo.build(self.stdout)
            self._first_reminders()
            firewatch_demo.seed_devices(self.stdout)
            firewatch_demo.seed_alarm_history(self.stdout)
            # Last: after the hazards demo and the plans demo, whose open tasks it carries out.
            inspection_runs.build(self.stdout)
        self.stdout.write(
            f"regions: {result.created} created, {result.updated} updated; users created: {created}"
        )
        self._print_accounts()

    def _first_reminders(self) -> None:
        """The daily reminders, run once so that inboxes have content (not again once any exists)."""
        if Notification.objects.exists():
            return
        policies = remind_expired_policies()
        cadres = remind_overdue_visits()
        self.stdout.write(
            f"notifications: {policies} expired policies reminded, {cadres} cadres told of overdue visits"
        )

    def _users(self) -> int:
        created = 0
        for username, name, role, home, places, kinds in DEMO_USERS:
            user = User.objects.filter(username=username).first()
            if user is None:
                institution = None
                if role == "institution_staff":
                    institution = Institution.objects.get(name=places[0])
                user = accounts.create_user(
                    None,
                    username=username,
                    display_name=name,
                    password=DEMO_PASSWORD,
                    region=Region.objects.get(code=home) if institution is None else institution.region,
                    institution=institution,
                    must_change_password=False,
                )
                accounts.grant_role(None, user, role)
                for place in places:
                    if role == "cadre":
                        # A responsible cadre sees what it is responsible for: 包保 assignments.
                        since = timezone.localdate() - timedelta(days=150)
                        assign_cadre(None, Institution.objects.get(name=place), user, starts_on=since)
                    elif place.isdigit():
                        accounts.add_scope(None, user, region=Region.objects.get(code=place), kinds=kinds)
                    else:
                        accounts.add_scope(None, user, institution=Institution.objects.get(name=place))
                created += 1
            if role in ADMIN_ROLES and not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
                accounts.provision_totp(None, user, demo_totp_key(username))
        return created

    def _print_accounts(self) -> None:
        self.stdout.write("")
        self.stdout.write(f"Demo accounts (password for all: {DEMO_PASSWORD})")
        for username, name, role, *_rest in DEMO_USERS:
            self.stdout.write(f"  {username:<13} {ROLE_LABELS[role]} · {name}")
        self.stdout.write("")
        self.stdout.write("Administrators also need a TOTP code. Add these to an authenticator app:")
        for user in User.objects.filter(
            username__in=[u[0] for u in DEMO_USERS if u[2] in ADMIN_ROLES]
        ).order_by("pk"):
            device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
            if device is not None:
                self.stdout.write(f"  {user.username:<13} {device.config_url}")
        self.stdout.write(f"Issuer shown in the app: {settings.OTP_TOTP_ISSUER}")

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from minan.accounts import services
from minan.accounts.models import User
from minan.accounts.roles import ROLE_LABELS
from minan.core.errors import DomainError
from minan.regions.models import Region


class Command(BaseCommand):
    help = "Accounts: `accounts disable-dormant`, `accounts unlock USER`, `accounts reset-totp USER`, `accounts create`."

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(dest="sub", required=True)
        sub.add_parser(
            "disable-dormant", help="Disable accounts that expired or went unused (also runs daily)."
        )
        unlock = sub.add_parser("unlock", help="Lift a login lockout for a user.")
        unlock.add_argument("username")
        totp = sub.add_parser(
            "reset-totp", help="Remove a user's authenticator so they enrol again at next login."
        )
        totp.add_argument("username")
        create = sub.add_parser(
            "create", help="Create an account with one role and a region scope (first administrators)."
        )
        create.add_argument("--username", required=True)
        create.add_argument("--name", required=True)
        create.add_argument("--role", required=True, choices=sorted(ROLE_LABELS))
        create.add_argument("--region", required=True, help="region code for home and scope, e.g. 370800")
        create.add_argument(
            "--password", required=True, help="initial password; must be changed at first login"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        sub = options["sub"]
        if sub == "disable-dormant":
            self.stdout.write(f"disabled {services.disable_dormant_accounts()} accounts")
        elif sub == "unlock":
            user = self._user(options["username"])
            services.unlock_user(None, user)
            self.stdout.write(f"unlocked {user.username}")
        elif sub == "reset-totp":
            user = self._user(options["username"])
            services.reset_totp(None, user)
            self.stdout.write(f"{user.username} will set up an authenticator at next login")
        else:
            region = Region.objects.filter(code=options["region"]).first()
            if region is None:
                raise CommandError(f"unknown region {options['region']}")
            try:
                user = services.create_account(
                    None,
                    username=options["username"],
                    display_name=options["name"],
                    password=options["password"],
                    region=region,
                    role=options["role"],
                )
            except DomainError as exc:
                raise CommandError(exc.message) from exc
            self.stdout.write(f"created {user.username} ({ROLE_LABELS[options['role']]}) at {region}")

    @staticmethod
    def _user(username: str) -> User:
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user {username}")
        return user

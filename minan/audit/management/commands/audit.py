from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from minan.audit.chain import archive_before, verify_chain


class Command(BaseCommand):
    help = "Audit trail: `audit verify` checks the hash chain; `audit archive` moves old rows to files."

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(dest="sub", required=True)
        sub.add_parser("verify", help="Check every row against the chain; exit 1 at the first broken row.")
        archive = sub.add_parser("archive", help="Move rows older than the retention period to a gzip file.")
        archive.add_argument(
            "--days",
            type=int,
            default=settings.AUDIT_RETENTION_DAYS,
            help=f"keep this many days online (at least 180; default {settings.AUDIT_RETENTION_DAYS})",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["sub"] == "verify":
            result = verify_chain()
            if not result.ok:
                raise CommandError(
                    f"audit chain broken at row {result.bad_id}: {result.reason} "
                    f"({result.checked} rows before it are intact)"
                )
            self.stdout.write(f"audit chain intact: {result.checked} rows verified")
        else:
            if options["days"] < 180:
                raise CommandError("audit rows must stay online for at least 180 days")
            try:
                archive = archive_before(timezone.now() - timedelta(days=options["days"]))
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
            if archive is None:
                self.stdout.write("nothing to archive")
            else:
                self.stdout.write(
                    f"archived rows {archive.first_id}–{archive.last_id} ({archive.rows}) to {archive.path}"
                )

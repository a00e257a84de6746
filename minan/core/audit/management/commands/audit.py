from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from minan.core.audit import keys
from minan.core.audit.anchors import anchor_path, write_anchor
from minan.core.audit.chain import verify_chain
from minan.core.audit.services import archive_before, record


class Command(BaseCommand):
    help = (
        "Audit trail: `audit verify` checks the hash chain and its anchors; `audit anchor` records the "
        "head outside the database; `audit rotate-key`; `audit archive` moves old rows to files."
    )

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(dest="sub", required=True)
        verify = sub.add_parser(
            "verify",
            help="Check every row, the head and every anchor in one snapshot; exit 1 at the first break.",
        )
        verify.add_argument(
            "--anchors", type=Path, help="anchor file to check against (default: the configured one)"
        )
        sub.add_parser("anchor", help="Append the current chain head to the anchor file (and the log).")
        sub.add_parser(
            "rotate-key", help="Start sealing with a new key; older keys are kept for verification."
        )
        archive = sub.add_parser("archive", help="Move rows older than the retention period to a gzip file.")
        archive.add_argument(
            "--days",
            type=int,
            default=settings.AUDIT_RETENTION_DAYS,
            help=f"keep this many days online (at least 180; default {settings.AUDIT_RETENTION_DAYS})",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        handler = {
            "verify": self.verify,
            "anchor": self.anchor,
            "rotate-key": self.rotate_key,
            "archive": self.archive,
        }[options["sub"]]
        handler(options)

    def verify(self, options: dict[str, Any]) -> None:
        result = verify_chain(anchor_file=options.get("anchors"))
        if not result.ok:
            where = f"row {result.bad_id}" if result.bad_id else "the trail"
            raise CommandError(
                f"audit chain broken at {where}: {result.reason} ({result.checked} rows before it are intact)"
            )
        self.stdout.write(f"audit chain intact: {result.checked} rows verified")
        if result.archived:
            self.stdout.write(f"  {result.archived} older rows are archived; the chain continues from them")
        if result.legacy:
            self.stdout.write(
                f"  {result.legacy} rows predate the keyed chain (plain SHA-256); the keyed row after them seals them"
            )
        if result.anchors or result.unchecked_anchors:
            self.stdout.write(f"  {result.anchors} anchors matched")
        if result.unchecked_anchors:
            self.stdout.write(
                f"  {result.unchecked_anchors} anchors point into archive files that are not at hand"
            )
        if not (result.anchors or result.unchecked_anchors) and result.checked:
            self.stdout.write(
                "  no anchors: rows deleted at the end, with the head rolled back, cannot be detected"
            )

    def anchor(self, options: dict[str, Any]) -> None:
        if anchor_path() is None:
            raise CommandError("no anchor file is configured (MINAN_AUDIT_ANCHOR_FILE)")
        data = write_anchor(force=True)
        if data is None:
            raise CommandError(
                "no anchor written: the trail is empty or its head is not sealed (see the log)"
            )
        self.stdout.write(
            f"anchored row {data['seq']} ({data['count']} rows ever written) in {anchor_path()}"
        )

    def rotate_key(self, options: dict[str, Any]) -> None:
        old = keys.current_key()
        new_text = keys.new_key_text()
        if settings.AUDIT_KEY:
            # The key comes from the environment: only the operator can change it.
            self.stdout.write(
                "The audit key comes from MINAN_AUDIT_KEY. To rotate it, set in the environment of every "
                "MinAn process:\n"
                f"  MINAN_AUDIT_KEY={new_text}\n"
                "  MINAN_AUDIT_OLD_KEYS=<the current MINAN_AUDIT_KEY>[,<older keys>...]\n"
                f"then restart them and run `minan audit anchor`. The current key is {old.id}; "
                f"the new one will be {keys.make_key(new_text).id}."
            )
            return
        path = Path(settings.AUDIT_KEY_FILE)
        keys.write_key_file(path, [new_text, *keys.read_key_file(path)])
        new = keys.current_key()
        record(
            "audit.key_rotate",
            object_type="audit.key",
            object_id=new.id,
            changes={"key_id": [old.id, new.id]},
            detail=f"audit key {old.id} → {new.id}",
        )
        write_anchor()
        self.stdout.write(
            f"audit key rotated: rows are now sealed with {new.id}; {old.id} and older keys stay in {path} "
            "for verification (keep them; back the file up apart from the database)"
        )

    def archive(self, options: dict[str, Any]) -> None:
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

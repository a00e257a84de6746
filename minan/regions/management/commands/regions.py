"""`manage.py regions load FILE | --jining` and `manage.py regions export [--output FILE.csv]`."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, TextIO

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from minan.regions.models import Region
from minan.regions.services import EXPORT_COLUMNS, RegionLoadError, load_regions

JINING_FILE = Path(__file__).resolve().parents[2] / "data" / "jining.csv"


class Command(BaseCommand):
    help = "Load the region tree from a CSV/XLSX file, or export it as CSV."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        load = sub.add_parser("load", help="Load regions from a .csv or .xlsx file.")
        source = load.add_mutually_exclusive_group(required=True)
        source.add_argument("file", nargs="?", help="The .csv or .xlsx file to load.")
        source.add_argument("--jining", action="store_true", help="Load the shipped 济宁市 tree.")
        export = sub.add_parser("export", help="Write the region tree as CSV.")
        export.add_argument("--output", "-o", help="A .csv file to write; standard output if omitted.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "load":
            self._load(JINING_FILE if options["jining"] else Path(options["file"]))
        else:
            self._export(options.get("output"))

    def _load(self, path: Path) -> None:
        if not path.is_file():
            raise CommandError(_("File not found: %(path)s") % {"path": path})
        try:
            result = load_regions(None, path)
        except RegionLoadError as exc:
            for error in exc.errors:
                if error.line:
                    self.stderr.write(
                        _("Line %(line)d: %(message)s") % {"line": error.line, "message": error.message}
                    )
                else:
                    self.stderr.write(error.message)
            raise CommandError(exc.message, returncode=1) from exc
        self.stdout.write(
            _(
                "Regions loaded from %(file)s: created %(created)d, updated %(updated)d, unchanged %(unchanged)d."
            )
            % {
                "file": path.name,
                "created": result.created,
                "updated": result.updated,
                "unchanged": result.unchanged,
            }
        )

    def _export(self, output: str | None) -> None:
        if output is None:
            buffer = io.StringIO()
            write_csv(buffer)
            self.stdout.write(buffer.getvalue(), ending="")
            return
        with open(output, "w", newline="", encoding="utf-8") as handle:
            count = write_csv(handle)
        self.stderr.write(_("%(count)d regions written to %(file)s.") % {"count": count, "file": output})


def write_csv(out: TextIO) -> int:
    """The whole tree in load format, parents before children; returns the number of regions."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    count = 0
    for region in Region.objects.select_related("parent").order_by("region_path").iterator(chunk_size=2000):
        writer.writerow(
            [
                region.code,
                region.name,
                region.level,
                region.parent.code if region.parent else "",
                "true" if region.statutory else "false",
                region.note,
            ]
        )
        count += 1
    return count

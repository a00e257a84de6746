"""Writes of the registry's xlsx import: all rows created in one transaction with one audit event, and the
background job (state in a small JSON file next to the stored upload) that runs large files.

The file format and the row checks are in `minan.institutions.imports.xlsx`.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.utils import translation
from django.utils.translation import gettext as _
from huey.contrib.djhuey import db_task

from minan.core.audit.services import diff, record, snapshot
from minan.core.errors import DomainError
from minan.core.xlsx import ImportRefused, file_error

from ..models import Institution, InstitutionChange
from ..services import FACT_FIELDS, after_facts_changed, require
from . import xlsx as excel
from .xlsx import Row, parse_rows

logger = logging.getLogger(__name__)

CREATE_BATCH = 1000


@dataclass(frozen=True)
class ImportResult:
    created: int
    filename: str


def import_institutions(
    actor: Any,
    rows: Sequence[Row],
    *,
    filename: str,
    request: Any = None,
    progress: Callable[[int, int], None] | None = None,
) -> ImportResult:
    """Create one institution per row, all or nothing. `actor` None is the system.

    `progress(done, total)` is called every 500 rows checked and after every batch written; total is
    twice the number of rows (each row is checked, then written).
    """
    require(actor, "institutions.import_institution")
    display_name = Path(filename).name
    total = 2 * len(rows)
    institutions = excel.validate_rows(actor, rows, progress=progress, total=total)
    user = actor if getattr(actor, "pk", None) else None
    try:
        with transaction.atomic():
            for start in range(0, len(institutions), CREATE_BATCH):
                Institution.objects.bulk_create(institutions[start : start + CREATE_BATCH])
                if progress:
                    progress(len(rows) + min(start + CREATE_BATCH, len(institutions)), total)
            # Foreign keys are checked at commit by default (deferred); check them now, inside the
            # transaction, so that a relation deleted since the check refuses the file here.
            connection.check_constraints(table_names=[Institution._meta.db_table])
            if any(i.pk is None for i in institutions):  # a backend that does not return ids
                ids = dict(
                    Institution.objects.filter(
                        public_token__in=[i.public_token for i in institutions]
                    ).values_list("public_token", "pk")
                )
                for institution in institutions:
                    institution.pk = ids[institution.public_token]
            InstitutionChange.objects.bulk_create(
                [
                    InstitutionChange(
                        institution=institution,
                        user=user,
                        action="import",
                        changes=diff({}, snapshot(institution, FACT_FIELDS)),
                        reason=display_name[:200],
                    )  # fmt: skip
                    for institution in institutions
                ],
                batch_size=CREATE_BATCH,
            )
            record(
                "institution.import",
                user=actor,
                request=request,
                username="" if actor is not None else "system",
                object_type="institutions.institution",
                detail=f"{len(institutions)} rows from {display_name}",
            )
            after_facts_changed(institutions, actor, request)
    except IntegrityError as exc:
        # Checked a moment ago; someone else registered one of the codes meanwhile.
        raise file_error(
            _(
                "Another change clashed with this file while it was being written; nothing was imported. Try again."
            )
        ) from exc
    return ImportResult(created=len(institutions), filename=display_name)


# --- background jobs for large files ------------------------------------------------------------------------
#
# Job state is a small JSON file next to the stored upload (MEDIA_ROOT/imports/<id>.json), written by the
# worker and read by the status view. Not the Django cache: without a shared cache backend (the default is
# per-process memory) the web process would never see what the Huey worker wrote. Anything that can read
# the stored upload can read its state.

JOB_KEEP_SECONDS = 24 * 3600


def _jobs_dir() -> Path:
    path = Path(settings.MEDIA_ROOT) / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _job_file(job_id: str, suffix: str) -> Path:
    return _jobs_dir() / f"{uuid.UUID(str(job_id)).hex}{suffix}"


def read_job(job_id: str) -> dict[str, Any] | None:
    try:
        return dict(json.loads(_job_file(job_id, ".json").read_text("utf-8")))
    except (FileNotFoundError, ValueError):
        return None


def write_job(job_id: str, **changes: Any) -> dict[str, Any]:
    state = read_job(job_id) or {}
    state.update(changes)
    target = _job_file(job_id, ".json")
    temporary = target.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps(state, ensure_ascii=False), "utf-8")
    os.replace(temporary, target)  # readers never see half a file
    return state


def _remove_old_jobs() -> None:
    cutoff = time.time() - JOB_KEEP_SECONDS
    for path in _jobs_dir().iterdir():
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except FileNotFoundError:
            pass


def start_import_job(actor: Any, data: bytes, filename: str, rows: int) -> str:
    """Store the upload and queue its import; returns the job id for the progress page."""
    _remove_old_jobs()
    job_id = str(uuid.uuid4())
    _job_file(job_id, ".xlsx").write_bytes(data)
    write_job(job_id, user=actor.pk, filename=Path(filename).name, status="pending", done=0, total=2 * rows,
              rows=rows, created=0, errors=[])  # fmt: skip
    run_import_job(
        job_id, actor.pk, Path(filename).name, translation.get_language() or settings.LANGUAGE_CODE
    )
    return job_id


@db_task()
def run_import_job(job_id: str, user_id: int, filename: str, language: str) -> None:
    upload = _job_file(job_id, ".xlsx")
    with translation.override(language):
        try:
            write_job(job_id, status="running")
            user = get_user_model().objects.get(pk=user_id)
            rows = parse_rows(upload, filename)
            write_job(job_id, rows=len(rows), total=2 * len(rows))

            def progress(done: int, total: int) -> None:
                write_job(job_id, done=done, total=total)

            result = import_institutions(user, rows, filename=filename, progress=progress)
            write_job(job_id, status="done", done=2 * len(rows), created=result.created)
        except ImportRefused as exc:
            write_job(job_id, status="refused", errors=[list(e) for e in exc.errors])
        except DomainError as exc:
            write_job(job_id, status="refused", errors=[[0, "", exc.message]])
        except Exception:
            logger.exception("institution import job %s failed", job_id)
            write_job(
                job_id, status="failed", errors=[[0, "", _("The import failed; nothing was imported.")]]
            )
        finally:
            upload.unlink(missing_ok=True)

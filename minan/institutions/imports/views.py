"""Pages for the Excel import and export of the registry (logic in `excel.py`)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views import View

from minan.core import xlsx
from minan.core.errors import DomainError, NotPermitted
from minan.core.export import XLSX, xlsx_response
from minan.core.views import ScopedViewMixin, current_user, deny

from ..models import Institution
from ..selectors import filter_institutions
from . import services as imports
from . import xlsx as excel

IMPORT_PERMISSION = "institutions.import_institution"
# Browsers send the xlsx type, or a generic one when no spreadsheet program is registered; the
# content is checked by opening the workbook anyway.
ACCEPTED_CONTENT_TYPES = frozenset(
    {XLSX, "application/octet-stream", "application/zip", "application/x-zip-compressed"}
)
ERRORS_SHOWN = 1000


class ImportTemplateView(ScopedViewMixin, View):
    """The empty import template, with the region codes inside the user's scope."""

    model = Institution
    scope_action = "view"

    def get(self, request: HttpRequest) -> HttpResponse:
        response = HttpResponse(excel.template_bytes(current_user(request)), content_type=XLSX)
        response["Content-Disposition"] = content_disposition_header(True, "机构导入模板.xlsx")
        return response


class ExportView(ScopedViewMixin, View):
    """The filtered list as xlsx, in the import format (audited by `xlsx_response`)."""

    model = Institution
    scope_action = "export"

    def get(self, request: HttpRequest) -> HttpResponse:
        rows = excel.export_rows(filter_institutions(self.get_queryset(), request.GET))
        return xlsx_response(
            request, "institutions", excel.SHEET_TITLE, excel.HEADERS, rows, model=Institution
        )


class _ImportMixin(ScopedViewMixin):
    """Import pages need the import permission on top of the right to add institutions."""

    model = Institution
    scope_action = "add"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if request.user.is_authenticated and not request.user.has_perm(IMPORT_PERMISSION):
            deny(request, "institutions.institution", f"import {request.path}")
        return super().dispatch(request, *args, **kwargs)


def _error_context(errors: list[Any]) -> dict[str, Any]:
    return xlsx.error_table(errors, ERRORS_SHOWN)


class ImportView(_ImportMixin, View):
    template_name = "institutions/excel/import.html"

    def _page(self, request: HttpRequest, *, status: int = 200, **context: Any) -> HttpResponse:
        context.setdefault("errors", [])
        context.update(max_mb=xlsx.MAX_FILE_BYTES // (1024 * 1024), max_rows=xlsx.MAX_ROWS)
        return render(request, self.template_name, context, status=status)

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._page(request)

    def post(self, request: HttpRequest) -> HttpResponse:
        user = current_user(request)
        upload = request.FILES.get("file")
        problem = ""
        if upload is None:
            problem = _("Choose an .xlsx file to import.")
        elif Path(upload.name or "").suffix.lower() != ".xlsx":
            problem = _("Only .xlsx files can be imported.")
        elif (upload.content_type or "").split(";")[0].strip().lower() not in ACCEPTED_CONTENT_TYPES:
            problem = _("The file is not an Excel workbook (.xlsx).")
        elif (upload.size or 0) > xlsx.MAX_FILE_BYTES:
            problem = _("The file is larger than %(size)d MB.") % {
                "size": xlsx.MAX_FILE_BYTES // (1024 * 1024)
            }
        if problem or upload is None:
            return self._page(request, status=400, problem=problem)
        filename = Path(upload.name or "upload.xlsx").name
        try:
            data = upload.read(xlsx.MAX_FILE_BYTES + 1)
            # A large file goes to the background job straight away (reading it takes seconds); the
            # sheet's own row count decides, and the real count when the sheet does not tell.
            hint = xlsx.row_count_hint(data)
            if hint is not None and hint > excel.ASYNC_ROWS:
                job = imports.start_import_job(user, data, filename, hint)
                return redirect("institutions:import_progress", job=job)
            rows = excel.parse_rows(data, filename)
            if len(rows) > excel.ASYNC_ROWS:
                job = imports.start_import_job(user, data, filename, len(rows))
                return redirect("institutions:import_progress", job=job)
            result = imports.import_institutions(user, rows, filename=filename, request=request)
        except xlsx.ImportRefused as exc:
            return self._page(
                request, status=400, problem=exc.message, filename=filename, **_error_context(exc.errors)
            )
        except NotPermitted as exc:
            raise PermissionDenied from exc
        except DomainError as exc:
            return self._page(request, status=400, problem=exc.message, filename=filename)
        message = ngettext(
            "Imported %(count)d institution.", "Imported %(count)d institutions.", result.created
        )
        messages.success(request, message % {"count": result.created})
        return redirect("institutions:list")


class _JobMixin(_ImportMixin):
    def job_state(self, job: uuid.UUID) -> dict[str, Any]:
        state = imports.read_job(str(job))
        if state is None or state.get("user") != current_user(self.request).pk:
            raise Http404  # another person's job is as unknown as a missing one
        total = state.get("total") or 1
        state["percent"] = min(100, int(100 * (state.get("done") or 0) / total))
        state["finished"] = state.get("status") in {"done", "refused", "failed"}
        state["checking"] = (state.get("done") or 0) < (state.get("rows") or 0)
        state["job"] = str(job)
        errors = [xlsx.RowError(*e) for e in state.get("errors") or []]
        state.update(_error_context(errors))
        return state


class ImportProgressView(_JobMixin, View):
    """Progress of a large import running in the background; the status fragment polls every second."""

    def get(self, request: HttpRequest, job: uuid.UUID) -> HttpResponse:
        return render(request, "institutions/excel/progress.html", {"state": self.job_state(job)})


class ImportStatusView(_JobMixin, View):
    def get(self, request: HttpRequest, job: uuid.UUID) -> HttpResponse:
        return render(request, "institutions/excel/_status.html", {"state": self.job_state(job)})

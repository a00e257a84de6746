"""一院一码 views: QR images, printable sheets, rotate / revoke / restore, and county batches.

Every view reads through `ScopedViewMixin`: an institution outside the user's scope is a 404.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import quote

from django.contrib import messages
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic.detail import SingleObjectMixin

from minan.core.audit.services import record
from minan.core.errors import DomainError
from minan.core.views import ScopedViewMixin, current_user

from ..models import Institution
from . import render as codes
from . import services as code_services


def _download(data: bytes, content_type: str, filename: str | None = None) -> HttpResponse:
    response = HttpResponse(data, content_type=content_type)
    # Codes change when rotated: never serve a stale one from a cache.
    response["Cache-Control"] = "private, no-store"
    if filename:
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class _CodeImageView(ScopedViewMixin, SingleObjectMixin, View):
    model = Institution
    scope_action = "view"

    def institution(self) -> Institution:
        obj = self.get_object()
        assert isinstance(obj, Institution)
        return obj


class CodeSvgView(_CodeImageView):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        institution = self.institution()
        return _download(codes.qr_svg(codes.public_url(request, institution)), "image/svg+xml")


class CodePngView(_CodeImageView):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        institution = self.institution()
        return _download(codes.qr_png(codes.public_url(request, institution)), "image/png")


class CodeSheetView(_CodeImageView):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        institution = self.institution()
        name = f"code-{codes.file_stem(institution)}.pdf"
        response = _download(codes.sheet_pdf([institution], request), "application/pdf")
        response["Content-Disposition"] = _disposition("inline", name, fallback=f"code-{institution.pk}.pdf")
        return response


def _disposition(kind: str, filename: str, *, fallback: str) -> str:
    """A Content-Disposition header with an ASCII fallback and the UTF-8 name (RFC 6266)."""
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}"


class _CodeActionView(ScopedViewMixin, SingleObjectMixin, View):
    """POST only; answers with a redirect to the institution's page and a message."""

    model = Institution
    scope_action = "change"
    http_method_names: ClassVar[list[str]] = ["post"]  # type: ignore[misc]

    def act(self, request: HttpRequest, institution: Institution) -> str:
        raise NotImplementedError

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        institution = self.get_object()
        assert isinstance(institution, Institution)
        try:
            messages.success(request, self.act(request, institution))
        except DomainError as exc:
            messages.error(request, exc.message)
        return HttpResponseRedirect(reverse("institutions:detail", args=[institution.pk]) + "?tab=code")


class CodeRotateView(_CodeActionView):
    def act(self, request: HttpRequest, institution: Institution) -> str:
        code_services.rotate_code(current_user(request), institution, request=request)
        return _("The public code was replaced. Codes printed before no longer work: print the new one.")


class CodeRevokeView(_CodeActionView):
    def act(self, request: HttpRequest, institution: Institution) -> str:
        code_services.revoke_code(
            current_user(request), institution, request.POST.get("reason", ""), request=request
        )
        return _("The public code was revoked; it no longer opens the public page.")


class CodeRestoreView(_CodeActionView):
    def act(self, request: HttpRequest, institution: Institution) -> str:
        code_services.restore_code(current_user(request), institution, request=request)
        return _("The public code was restored; it opens the public page again.")


class _CodeBatchView(ScopedViewMixin, View):
    """All codes of a region (normally a county) the user may export: `?region=<code>&kind=<kind>`.

    Closed institutions and revoked codes are left out (their codes open nothing). More than
    BATCH_LIMIT institutions are refused: choose a smaller region.
    """

    model = Institution
    scope_action = "export"
    fmt: ClassVar[str] = ""

    def get_queryset(self) -> Any:
        qs = super().get_queryset().filter(public_code_active=True).exclude(status=Institution.Status.CLOSED)
        params = self.request.GET
        if (region := params.get("region", "").strip()).isdigit():
            qs = qs.filter(Q(region_path__startswith=f"{region}/") | Q(region_path__contains=f"/{region}/"))
        if (kind := params.get("kind")) in Institution.Kind.values:
            qs = qs.filter(kind=kind)
        return qs.select_related("region").order_by("region_path", "name", "pk")

    def back(self) -> HttpResponseRedirect:
        url = reverse("institutions:list")
        if (region := self.request.GET.get("region", "").strip()).isdigit():
            url += f"?region={region}"
        return HttpResponseRedirect(url)

    def build(self, rows: list[Institution], request: HttpRequest) -> tuple[bytes, str]:
        raise NotImplementedError

    def get(self, request: HttpRequest) -> HttpResponse:
        qs = self.get_queryset()
        count = qs.count()
        if count > codes.BATCH_LIMIT:
            messages.error(
                request,
                _(
                    "%(count)s institutions selected; a batch holds at most %(limit)s. "
                    "Choose a county (or a township) and try again."
                )
                % {"count": count, "limit": codes.BATCH_LIMIT},
            )
            return self.back()
        if count == 0:
            messages.error(request, _("No institution with an active public code in this selection."))
            return self.back()
        rows = list(qs)
        data, content_type = self.build(rows, request)
        record(
            "export",
            request=request,
            object_type=Institution._meta.label_lower,
            detail=f"{len(rows)} public codes ({self.fmt}); filters: {request.GET.urlencode()}"[:500],
        )
        region = request.GET.get("region", "").strip()
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        name = f"codes-{region if region.isdigit() else 'scope'}-{stamp}.{self.fmt}"
        return _download(data, content_type, name)


class CodesZipView(_CodeBatchView):
    fmt = "zip"

    def build(self, rows: list[Institution], request: HttpRequest) -> tuple[bytes, str]:
        return codes.county_zip(rows, request), "application/zip"


class CodesPdfView(_CodeBatchView):
    fmt = "pdf"

    def build(self, rows: list[Institution], request: HttpRequest) -> tuple[bytes, str]:
        return codes.sheet_pdf(rows, request), "application/pdf"

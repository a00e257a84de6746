"""The device registry pages (消防设备): list with filters and xlsx export, detail (status,
recent signals, online/offline flips, open alarms, maintenance window, push credential), create, edit,
retire, and the xlsx import. Every read goes through `Device.objects.for_user`; writes through `devices`
and `credentials`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import ListView

from minan.core.errors import DomainError, NotPermitted
from minan.core.export import XLSX, sheets_response
from minan.core.views import ScopedViewMixin, current_user, deny
from minan.core.xlsx import ImportRefused, error_table
from minan.firewatch.models import Alarm, Device, DeviceEvent, Signal
from minan.institutions.models import Institution

from . import selectors, services
from .forms import DeviceForm, ImportForm, MaintenanceForm

RECENT_SIGNALS = 50
RECENT_EVENTS = 50
UNREGISTERED_SHOWN = 20


def _apply_errors(form: Any, exc: DomainError) -> None:
    """A service refusal on the form: every named problem on its field, the rest above the form."""
    found = exc.problems if isinstance(exc, services.DeviceInvalid) else [(exc.field or "", exc.message)]
    for field, message in found:
        form.add_error(field if field in form.fields else None, message)


class DeviceListView(ScopedViewMixin, ListView):
    """Devices in scope, 50 a page; filters: institution, type, protocol, status, maintenance, q, active."""

    model = Device
    template_name = "firewatch/device_list.html"
    paginate_by = 50

    def get_queryset(self) -> QuerySet[Device]:
        qs = selectors.filter_devices(super().get_queryset(), self.request.GET)
        return qs.select_related("institution").order_by(
            "institution__name", "building", "floor", "name", "id"
        )

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        user = current_user(self.request)
        now = timezone.now()
        for device in context["object_list"]:
            setattr(device, "maintenance_now", services.in_maintenance_now(device, now))  # noqa: B010
        context.update(
            institution_choices=Institution.objects.for_user(user)
            .order_by("region_path", "name")
            .only("pk", "name"),
            type_choices=Device.Type.choices,
            protocol_choices=Device.Protocol.choices,
            status_choices=Device.Status.choices,
            can_add=user.has_perm(services.ADD_PERMISSION),
            can_import=user.has_perm(services.IMPORT_PERMISSION) and user.has_perm(services.ADD_PERMISSION),
            query=self.request.GET.urlencode(),
        )
        unregistered = selectors.unregistered_senders(user)
        context["unregistered"] = list(unregistered[:UNREGISTERED_SHOWN])
        context["unregistered_count"] = (
            len(context["unregistered"])
            if len(context["unregistered"]) < UNREGISTERED_SHOWN
            else unregistered.count()
        )
        return context


class DeviceExportView(ScopedViewMixin, View):
    """The filtered list as xlsx, in the import's columns plus status (audited by `sheets_response`). The
    registry has no separate export permission: whoever may see the devices may take the list."""

    model = Device

    def get(self, request: HttpRequest) -> HttpResponse:
        qs = selectors.filter_devices(self.get_queryset(), request.GET).order_by(
            "institution__name", "name", "id"
        )
        sheet = (services.SHEET_TITLE, [*services.HEADERS, *services.EXPORT_ONLY], services.export_rows(qs))
        return sheets_response(request, "devices", [sheet], model=Device)


class DeviceDetailView(ScopedViewMixin, View):
    model = Device

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self.page(request, pk)

    def page(
        self, request: HttpRequest, pk: int, *, maintenance_form: Any = None, status: int = 200
    ) -> HttpResponse:
        device = get_object_or_404(self.get_queryset().select_related("institution", "panel"), pk=pk)
        user = current_user(request)
        now = timezone.now()
        alarms = (
            Alarm.objects.for_user(user).filter(device=device, closed_at__isnull=True).order_by("-last_at")
        )
        context = {
            "device": device,
            "components": device.components.order_by("gb_component", "name")
            if device.type == Device.Type.PANEL
            else [],
            "signals": Signal.objects.filter(device=device).order_by("-at", "-id")[:RECENT_SIGNALS],
            "events": DeviceEvent.objects.filter(device=device).order_by("-at", "-id")[:RECENT_EVENTS],
            "alarms": alarms,
            "in_maintenance": services.in_maintenance_now(device, now),
            "maintenance_set": device.maintenance_until is not None,
            "maintenance_form": maintenance_form or MaintenanceForm(),
            "can_change": user.has_perm(services.CHANGE_PERMISSION),
            "can_silence": user.has_perm(services.SILENCE_PERMISSION),
            "has_credential": services.has_credential(device),
            "thresholds": sorted(device.thresholds.items()) if isinstance(device.thresholds, dict) else [],
        }
        return render(request, "firewatch/device_detail.html", context, status=status)


class DeviceFormView(ScopedViewMixin, View):
    """Register a device (no pk, `add`) or change one (pk, `change`)."""

    model = Device
    template_name = "firewatch/device_form.html"

    def _device(self, pk: int | None) -> Device | None:
        return get_object_or_404(self.get_queryset(), pk=pk) if pk else None

    def _render(
        self, request: HttpRequest, form: DeviceForm, device: Device | None, status: int = 200
    ) -> HttpResponse:
        return render(request, self.template_name, {"form": form, "device": device}, status=status)

    def get(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        device = self._device(pk)
        initial = DeviceForm.initial_for(device) if device else {}
        if device is None and request.GET.get("institution", "").isdigit():
            initial["institution"] = request.GET["institution"]
        # "Register" from an unregistered sender: its address, over GB/T 26875.3.
        address = request.GET.get("gb_address", "")
        if device is None and address.isdigit() and len(address) <= 15:
            initial.update(gb_address=int(address), protocol=Device.Protocol.GB26875)
        return self._render(request, DeviceForm(initial=initial, user=current_user(request)), device)

    def post(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        device = self._device(pk)
        user = current_user(request)
        form = DeviceForm(request.POST, user=user)
        if form.is_valid():
            values = dict(form.cleaned_data)
            institution = values.pop("institution")
            try:
                if device is None:
                    saved = services.create_device(user, institution, request=request, **values)
                else:
                    saved = services.update_device(
                        user, device, request=request, institution=institution, **values
                    )
            except NotPermitted as exc:
                raise PermissionDenied from exc
            except DomainError as exc:
                _apply_errors(form, exc)
            else:
                messages.success(request, _("%(name)s is saved.") % {"name": saved.name})
                return redirect("firewatch:device_detail", pk=saved.pk)
        return self._render(request, form, device, status=400)


class DeviceCreateView(DeviceFormView):
    scope_action = "add"


class DeviceEditView(DeviceFormView):
    scope_action = "change"


class DeviceMaintenanceView(ScopedViewMixin, View):
    """POST: set the maintenance window (`action=set`) or end it (`action=clear`). Needs
    `firewatch.silence_device`, which institution staff hold for their own devices."""

    model = Device
    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        device = get_object_or_404(self.get_queryset(), pk=pk)
        user = current_user(request)
        if not user.has_perm(services.SILENCE_PERMISSION):
            deny(request, "firewatch.device", f"silence {request.path}")
        if request.POST.get("action") == "clear":
            services.clear_maintenance(user, device, request=request)
            messages.success(request, _("The maintenance window has ended."))
            return redirect("firewatch:device_detail", pk=device.pk)
        form = MaintenanceForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.set_maintenance(
                    user, device, data["start"], data["end"], data["reason"], request=request
                )
            except DomainError as exc:
                _apply_errors(form, exc)
            else:
                messages.success(request, _("The maintenance window is set."))
                return redirect("firewatch:device_detail", pk=device.pk)
        return DeviceDetailView(request=request).page(request, pk, maintenance_form=form, status=400)


class DeviceStateView(ScopedViewMixin, View):
    """POST: take the device out of service (`action=retire`) or back in (`action=reactivate`)."""

    model = Device
    scope_action = "change"
    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        device = get_object_or_404(self.get_queryset(), pk=pk)
        action = request.POST.get("action")
        if action == "retire":
            services.retire(current_user(request), device, request=request)
            messages.success(request, _("The device is out of service."))
        elif action == "reactivate":
            services.reactivate(current_user(request), device, request=request)
            messages.success(request, _("The device is back in service."))
        return redirect("firewatch:device_detail", pk=device.pk)


class DeviceCredentialView(ScopedViewMixin, View):
    """POST `action=issue`: a new push token, shown once on the page this answers with (never stored in
    clear, never shown again). POST `action=revoke`: remove it."""

    model = Device
    scope_action = "change"
    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        device = get_object_or_404(self.get_queryset().select_related("institution"), pk=pk)
        user = current_user(request)
        if request.POST.get("action") == "revoke":
            services.revoke(user, device, request=request)
            messages.success(request, _("The push token is revoked; the device can no longer push."))
            return redirect("firewatch:device_detail", pk=device.pk)
        token = services.issue(user, device, request=request)
        context = {
            "device": device,
            "token": token,
            "ingest_url": request.build_absolute_uri("/api/v1/ingest/signals/"),
        }
        response = render(request, "firewatch/device_token.html", context)
        response["Cache-Control"] = "private, no-store"
        return response


class _ImportMixin(ScopedViewMixin):
    """The import needs `firewatch.import_device` on top of the right to add devices."""

    model = Device
    scope_action = "add"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if request.user.is_authenticated and not request.user.has_perm(services.IMPORT_PERMISSION):
            deny(request, "firewatch.device", f"import {request.path}")
        return super().dispatch(request, *args, **kwargs)


class DeviceImportView(_ImportMixin, View):
    template_name = "firewatch/device_import.html"

    def _page(
        self, request: HttpRequest, form: ImportForm, *, status: int = 200, **context: Any
    ) -> HttpResponse:
        context.update(form=form, headers=services.HEADERS, type_names=list(services.TYPE_NAMES.values()),
                       protocol_names=list(services.PROTOCOL_NAMES.values()), max_rows=services.MAX_ROWS)  # fmt: skip
        context.setdefault("errors", [])
        return render(request, self.template_name, context, status=status)

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._page(request, ImportForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        form = ImportForm(request.POST, request.FILES)
        if not form.is_valid():
            return self._page(request, form, status=400)
        upload = form.cleaned_data["file"]
        filename = Path(upload.name or "devices.xlsx").name
        try:
            result = services.import_devices(current_user(request), upload, filename, request=request)
        except ImportRefused as exc:
            # Every problem is listed (the device file has at most MAX_ROWS rows).
            return self._page(request, form, status=400, problem=exc.message, filename=filename,
                              **error_table(exc.errors, shown=len(exc.errors)))  # fmt: skip
        except NotPermitted as exc:
            raise PermissionDenied from exc
        except DomainError as exc:
            return self._page(request, form, status=400, problem=exc.message, filename=filename)
        messages.success(
            request,
            _("Imported: %(created)d devices registered, %(updated)d updated.")
            % {"created": result.created, "updated": result.updated},
        )
        return redirect(reverse("firewatch:device_list"))


class DeviceTemplateView(_ImportMixin, View):
    """The empty import file."""

    def get(self, request: HttpRequest) -> HttpResponse:
        response = HttpResponse(services.template_bytes(), content_type=XLSX)
        response["Content-Disposition"] = content_disposition_header(True, "设备导入模板.xlsx")
        return response

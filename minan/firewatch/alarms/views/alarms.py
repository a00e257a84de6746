"""An alarm's page (all fields, the timeline of its `AlarmEvent`s, the close-out) and the alarm history
with its filters and xlsx export.

Alarms are read through `Alarm.objects.for_user` (ScopedViewMixin): one outside the scope is a 404.
Closing goes through `services.close`; a refusal is shown next to its field and changes nothing.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from django.views import View
from django.views.generic import ListView

from minan.core.errors import DomainError, NotPermitted
from minan.core.export import sheets_response
from minan.core.forms import add_refusal
from minan.core.views import ScopedViewMixin, current_user, deny
from minan.firewatch.models import Alarm, AlarmEvent
from minan.institutions.models import Institution
from minan.regions.models import Region

from .. import kinds, selectors, services
from ..forms import CloseForm


def _people(codes: Any) -> str:
    return "、".join(str(services.RECIPIENTS.get(code, code)) for code in codes or [])


def timeline(alarm: Alarm) -> list[dict[str, Any]]:
    """The alarm's events with their labels and what each says (one query)."""
    rows = []
    classes = dict(Alarm.Classification.choices)
    for event in AlarmEvent.objects.filter(alarm=alarm).select_related("actor").order_by("at", "id"):
        data = event.data or {}
        what = ""
        if event.action == "escalated":
            what = _("Step %(step)s: %(who)s (%(n)s people)") % {
                "step": data.get("step", ""), "who": _people(data.get("notify")), "n": data.get("people", 0),
            }  # fmt: skip
        elif event.action == "closed":
            what = str(classes.get(data.get("classification", ""), data.get("classification", "")))
        elif event.action == "hazard":
            what = _("Hazard #%(pk)s") % {"pk": data.get("hazard", "")}
        elif event.action in {"raised", "repeated"} and data:
            facts = kinds.detail_facts(alarm.kind, data, alarm.device)
            what = "；".join(f"{label}：{text}" for label, text in facts)[:300]
        rows.append(
            {"event": event, "label": selectors.EVENT_LABELS.get(event.action, event.action), "what": what}
        )
    return rows


class AlarmMixin(ScopedViewMixin):
    model = Alarm
    kwargs: dict[str, Any]

    def alarm(self) -> Alarm:
        return get_object_or_404(
            self.get_queryset().select_related(
                "device",
                "institution",
                "acknowledged_by",
                "cleared_by",
                "closed_by",
                "hazard",
                "device__panel",
            ),
            pk=self.kwargs["pk"],
        )

    def render_detail(
        self, request: HttpRequest, alarm: Alarm, form: CloseForm, status: int = 200
    ) -> HttpResponse:
        user = current_user(request)
        context = {
            "alarm": alarm,
            "label": kinds.alarm_title(alarm.kind),
            "state_label": selectors.state_label(alarm),
            "state": selectors.state_of(alarm),
            "location": selectors.location(alarm.device),
            "timeline": timeline(alarm),
            "close_rows": selectors.close_detail_rows(alarm),
            "form": form,
            "can_acknowledge": user.has_perm("firewatch.acknowledge_alarm"),
            "can_close": user.has_perm("firewatch.close_alarm"),
            "can_clear": user.has_perm("firewatch.clear_alarm"),
            "facts": kinds.detail_facts(alarm.kind, alarm.detail, alarm.device),
        }
        return render(request, "firewatch/alarm_detail.html", context, status=status)


class AlarmDetailView(AlarmMixin, View):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self.render_detail(request, self.alarm(), CloseForm())


class AlarmCloseView(AlarmMixin, View):
    """POST the close-out: classification and its detail. Errors are shown next to their field (400)."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        alarm = self.alarm()
        form = CloseForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.close(
                    current_user(request), alarm, data.get("classification") or "", form.detail(),
                    note=data.get("note") or "", request=request,
                )  # fmt: skip
            except NotPermitted as exc:
                deny(request, "firewatch.alarm", f"close {request.path}: {exc.message}")
            except DomainError as exc:
                add_refusal(form, exc)
            else:
                messages.success(request, _("Alarm closed."))
                return redirect("firewatch:alarm_detail", pk=pk)
        return self.render_detail(request, self.alarm(), form, status=400)


# --- the history -------------------------------------------------------------------------------------------


class AlarmListView(ScopedViewMixin, ListView):
    """Alarms in scope, newest first, 50 a page, filtered (`selectors.filter_alarms`)."""

    model = Alarm
    template_name = "firewatch/alarm_list.html"
    paginate_by = 50

    def get_queryset(self) -> QuerySet[Alarm]:
        qs = super().get_queryset().select_related("device", "institution", "acknowledged_by")
        return selectors.filter_alarms(qs, self.request.GET).order_by("-first_at", "-id")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        user = current_user(self.request)
        institution_id = self.request.GET.get("institution", "")
        for alarm in context["object_list"]:
            alarm.label = kinds.alarm_label(alarm.kind)
            alarm.state_label = selectors.state_label(alarm)
        context.update(
            counties=Region.objects.for_user(user).filter(level=Region.Level.COUNTY).order_by("region_path"),
            institution=Institution.objects.for_user(user).filter(pk=institution_id).first()
            if institution_id.isdigit()
            else None,
            kind_choices=selectors.kind_choices(Alarm.objects.for_user(user)),
            severity_choices=Alarm.Severity.choices,
            classification_choices=Alarm.Classification.choices,
            can_export=user.has_perm("firewatch.view_alarm"),
        )
        return context


EXPORT_LIMIT = 50_000


class AlarmExportView(ScopedViewMixin, View):
    """The history as xlsx with the same filters (audited). Needs only the right to view alarms."""

    model = Alarm

    def get(self, request: HttpRequest) -> HttpResponse:
        qs = selectors.filter_alarms(
            self.get_queryset().select_related(
                "device", "institution", "acknowledged_by", "cleared_by", "closed_by"
            ),
            request.GET,
        ).order_by("-first_at", "-id")[:EXPORT_LIMIT]
        classes = dict(Alarm.Classification.choices)
        severities = dict(Alarm.Severity.choices)
        headers = [
            _("No."), _("Institution"), _("Device"), _("Serial"), pgettext("place in a building", "Location"), _("Alarm"), _("Severity"),
            _("First at"), _("Last at"), _("Count"), _("State"), _("Acknowledged at"), _("Acknowledged by"),
            _("Cleared at"), _("Cleared by"), _("Closed at"), _("Closed by"), _("Classification"), _("Close-out detail"),
        ]  # fmt: skip

        def rows() -> Any:
            for a in qs.iterator(chunk_size=2000):
                detail = "; ".join(f"{label}: {value}" for label, value in selectors.close_detail_rows(a))
                yield [
                    a.pk, a.institution.name, a.device.name, a.device.serial, selectors.location(a.device),
                    kinds.alarm_label(a.kind), str(severities.get(a.severity, a.severity)), a.first_at,
                    a.last_at, a.count, selectors.state_label(a) if a.closed_at is None else pgettext("alarm state", "Closed"),
                    a.acknowledged_at, a.acknowledged_by.display_name if a.acknowledged_by else "", a.cleared_at,
                    a.cleared_by.display_name if a.cleared_by else "", a.closed_at, a.closed_by.display_name if a.closed_by else "",
                    str(classes.get(a.classification, a.classification)), detail,
                ]  # fmt: skip

        return sheets_response(request, "alarms", [(_("Alarms"), headers, rows())], model=Alarm)

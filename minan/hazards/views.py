"""Pages of the hazard closed loop (隐患闭环): the ledger and its export, the report form, the detail page
with the timeline and the moves the signed-in user may perform, the rectification notice, the
major-hazard board, and the requests for deadline extensions and pauses.

Every hazard is read through `Hazard.objects.for_user` (ScopedViewMixin): one outside the user's scope
is a 404. Writes go through `services` only; a refusal is shown with the reason and changes nothing.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import F, QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.generic import ListView

from minan.core import calendar
from minan.core.errors import DomainError
from minan.core.export import sheets_response
from minan.core.forms import add_refusal
from minan.core.views import ScopedViewMixin, current_user
from minan.institutions.models import Institution
from minan.regions.models import Region

from . import notice, selectors, services
from .forms import MoveForm, PlanForm, ReportForm
from .models import Category, Extension, Hazard, HazardEvent, HazardFile, Pause, Source
from .workflow import IN_RECTIFICATION, MOVES, OPEN_STATES, PLAN_FIELDS, Move, moves_from

# Timeline labels of the events that are not moves of the table.
EVENT_LABELS = {
    "report": gettext_lazy("Reported"),
    "report_fixed": gettext_lazy("Reported as fixed on the spot"),
    "plan": gettext_lazy("Five-guarantee plan changed"),
    "reopen": gettext_lazy("Reopened after a revisit"),
    "finding": gettext_lazy("Found again by an inspection"),
    "extension_request": gettext_lazy("Deadline extension requested"),
    "extension_approved": gettext_lazy("Deadline extension approved"),
    "extension_refused": gettext_lazy("Deadline extension refused"),
    "pause_request": gettext_lazy("Deadline pause requested"),
    "pause_approved": gettext_lazy("Deadline paused"),
    "pause_refused": gettext_lazy("Deadline pause refused"),
    "pause_end": gettext_lazy("Deadline clock running again"),
    "escalation1": gettext_lazy("Reminder: half of the time used"),
    "escalation2": gettext_lazy("Reminder: three quarters of the time used"),
    "escalation3": gettext_lazy("Due today: institution and cadre told"),
    "escalation4": gettext_lazy("Overdue: escalated to the county"),
    "escalation5": gettext_lazy("Overdue: escalated to the city"),
}
PLAN_STATES = frozenset({Hazard.Status.REPORTED, Hazard.Status.ASSIGNED, Hazard.Status.RECTIFYING,
                         Hazard.Status.REJECTED})  # fmt: skip


def _event_label(action: str) -> Any:
    move = MOVES.get(action)
    return move.label if move else EVENT_LABELS.get(action, action)


def _status_label(status: str) -> Any:
    return Hazard.Status(status).label if status in Hazard.Status.values else status


# --- the ledger ----------------------------------------------------------------------------------------------


class HazardListView(ScopedViewMixin, ListView):
    """The ledger: hazards in scope, filtered (see `selectors.filter_hazards`), newest first, 50 a page."""

    model = Hazard
    template_name = "hazards/list.html"
    paginate_by = 50

    def get_queryset(self) -> Any:
        today = timezone.localdate()
        qs = selectors.with_overdue(super().get_queryset().select_related("institution", "cadre"), today)
        return selectors.filter_hazards(qs, self.request.GET, today)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        user = current_user(self.request)
        today = timezone.localdate()
        institution_id = self.request.GET.get("institution", "")
        context.update(
            today=today,
            counties=Region.objects.for_user(user).filter(level=Region.Level.COUNTY).order_by("region_path"),
            institution=Institution.objects.for_user(user).filter(pk=institution_id).first()
            if institution_id.isdigit()
            else None,
            level_choices=Hazard.Level.choices,
            category_choices=Category.choices,
            status_choices=Hazard.Status.choices,
            source_choices=Source.choices,
            can_export=user.has_perm("hazards.export_hazard"),
            can_report=user.has_perm("hazards.add_hazard"),
        )
        return context


class HazardExportView(ScopedViewMixin, View):
    """The ledger as xlsx with the same filters, in the official layout (`selectors.EXPORT_HEADERS`)."""

    model = Hazard
    scope_action = "export"

    def get(self, request: HttpRequest) -> HttpResponse:
        qs = self.get_queryset().select_related("institution", "accepted_by")
        hazards = selectors.filter_hazards(qs, request.GET, timezone.localdate())
        rows = selectors.export_rows(hazards)
        return sheets_response(
            request, "hazards", [(selectors.EXPORT_TITLE, selectors.EXPORT_HEADERS, rows)], model=Hazard
        )


class MajorBoardView(ScopedViewMixin, ListView):
    """Open major hazards in scope (挂牌督办): overdue first, then by deadline."""

    model = Hazard
    template_name = "hazards/major.html"
    paginate_by = 100

    def get_queryset(self) -> Any:
        today = timezone.localdate()
        base = super().get_queryset()
        qs = base.filter(level=Hazard.Level.MAJOR, status__in=OPEN_STATES).select_related(
            "institution", "clause", "supervisor"
        )
        return selectors.with_overdue(qs, today).order_by(
            "-overdue", F("deadline").asc(nulls_last=True), "-found_at", "-id"
        )

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["rows"] = [(h, selectors.missing_guarantees(h)) for h in context["object_list"]]
        context["today"] = timezone.localdate()
        return context


# --- reporting -----------------------------------------------------------------------------------------------


class HazardCreateView(ScopedViewMixin, View):
    """Register a hazard (`services.report`); a refusal is shown on its field and nothing is written."""

    model = Hazard
    scope_action = "add"

    def _render(self, request: HttpRequest, form: ReportForm, status: int = 200) -> HttpResponse:
        return render(request, "hazards/report_form.html", {"form": form}, status=status)

    def get(self, request: HttpRequest) -> HttpResponse:
        user = current_user(request)
        initial: dict[str, Any] = {}
        if (pk := request.GET.get("institution", "")).isdigit():
            initial["institution"] = get_object_or_404(Institution.objects.for_user(user), pk=int(pk))
        return self._render(request, ReportForm(user=user, initial=initial))

    def post(self, request: HttpRequest) -> HttpResponse:
        user = current_user(request)
        form = ReportForm(request.POST, request.FILES, user=user)
        if not form.is_valid():
            return self._render(request, form, status=400)
        data = form.cleaned_data
        try:
            hazard = services.report(
                user, data["institution"], source=data["source"], category=data["category"], level=data["level"],
                description=data["description"], location=data["location"], clause=data["clause"],
                responsible_person=data["responsible_person"], on_the_spot=data["on_the_spot"],
                files=data["files"], request=request,
            )  # fmt: skip
        except DomainError as exc:
            add_refusal(form, exc)
            return self._render(request, form, status=400)
        messages.success(request, _("Hazard #%(n)d is registered.") % {"n": hazard.pk})
        return redirect("hazards:detail", pk=hazard.pk)


# --- one hazard ----------------------------------------------------------------------------------------------


class HazardObjectMixin(ScopedViewMixin):
    """Reads one hazard through the scope with what its pages show (404 outside the scope)."""

    model = Hazard
    kwargs: dict[str, Any]

    def get_queryset(self) -> QuerySet[Hazard]:
        base = super().get_queryset()
        return base.select_related(
            "institution__region", "clause__criteria_set", "found_by", "cadre", "supervisor", "accepted_by"
        )

    def hazard(self) -> Hazard:
        return get_object_or_404(self.get_queryset(), pk=self.kwargs["pk"])


def offered_moves(user: Any, hazard: Hazard) -> list[Move]:
    """The moves of the table the user may perform now: the permission of the move, acceptance by
    someone other than the submitter, and a major hazard accepted and closed by its supervising level.
    The service checks all of it again (and the rest)."""
    offered = []
    for move in moves_from(hazard.status):
        if not user.has_perm(move.permission):
            continue
        if move.action == "accept" and (
            hazard.submitted_by_id == user.pk or (hazard.on_the_spot and hazard.found_by_id == user.pk)
        ):
            continue
        if (
            move.action in {"accept", "reject", "close"}
            and hazard.level == Hazard.Level.MAJOR
            and not selectors.may_supervise(user, hazard)
        ):
            continue
        offered.append(move)
    return offered


def can_edit_plan(user: Any, hazard: Hazard) -> bool:
    return (
        hazard.level == Hazard.Level.MAJOR
        and hazard.status in PLAN_STATES
        and (user.has_perm("hazards.assign_hazard") or user.has_perm("hazards.rectify_hazard"))
    )


def _plan_initial(hazard: Hazard) -> dict[str, Any]:
    return {name: getattr(hazard, name) for name in PLAN_FIELDS}


def render_detail(
    request: HttpRequest,
    hazard: Hazard,
    *,
    bound: MoveForm | None = None,
    plan_form: PlanForm | None = None,
    status: int = 200,
) -> HttpResponse:
    user = current_user(request)
    today = timezone.localdate()
    files = list(hazard.files.order_by("id"))
    by_event: dict[int | None, list[HazardFile]] = {}
    for item in files:
        by_event.setdefault(item.event_id, []).append(item)
    events = list(HazardEvent.objects.filter(hazard=hazard).select_related("actor").order_by("at", "id"))
    timeline = [
        {
            "event": e,
            "label": _event_label(e.action),
            "from": _status_label(e.from_status) if e.from_status and e.from_status != e.to_status else "",
            "to": _status_label(e.to_status) if e.to_status else "",
            "files": by_event.get(e.pk, []),
        }
        for e in events
    ]
    move_forms = []
    for move in offered_moves(user, hazard):
        if bound is not None and bound.move.action == move.action:
            move_forms.append(bound)
        else:
            move_forms.append(MoveForm(move=move, hazard=hazard, actor=user))
    plan_editable = can_edit_plan(user, hazard)
    if plan_editable and plan_form is None:
        plan_form = PlanForm(initial=_plan_initial(hazard))
    context = {
        "hazard": hazard,
        "object": hazard,
        "today": today,
        "overdue": selectors.is_overdue(hazard, today),
        "missing": selectors.missing_guarantees(hazard) if hazard.level == Hazard.Level.MAJOR else [],
        "found_files": [f for f in files if f.kind == HazardFile.Kind.FOUND],
        "rectified_files": [f for f in files if f.kind == HazardFile.Kind.RECTIFIED],
        "timeline": timeline,
        "move_forms": move_forms,
        "plan_form": plan_form if plan_editable else None,
        "has_notice": hazard.assigned_on is not None,
        "extensions": list(hazard.extensions.select_related("requested_by", "decided_by")),
        "can_request_extension": user.has_perm("hazards.rectify_hazard")
        and hazard.status in services.EXTENDABLE,
        "can_decide_extension": user.has_perm("hazards.assign_hazard"),
        "pauses": list(hazard.pauses.select_related("requested_by", "decided_by", "ended_by")),
        "can_request_pause": (
            user.has_perm("hazards.rectify_hazard") or user.has_perm("hazards.assign_hazard")
        )
        and hazard.status in IN_RECTIFICATION
        and hazard.paused_since is None,
        "can_decide_pause": selectors.may_decide_pause(user, hazard),
        "can_resume": hazard.paused_since is not None
        and (user.has_perm("hazards.rectify_hazard") or user.has_perm("hazards.assign_hazard")),
    }
    return render(request, "hazards/detail.html", context, status=status)


class HazardDetailView(HazardObjectMixin, View):
    """All facts, the 五落实 plan, files, the timeline and one form per move the user may perform."""

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return render_detail(request, self.hazard())


class HazardTransitionView(HazardObjectMixin, View):
    """POST one move (`services.transition`). The hazard is read through the view scope; the service
    checks the move's permission, state and rules. A refusal re-renders the page with the reason."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        hazard = self.hazard()
        user = current_user(request)
        action = request.POST.get("action", "")
        move = MOVES.get(action)
        if move is None:
            messages.error(request, _("Unknown action."))
            return render_detail(request, hazard, status=400)
        form = MoveForm(request.POST, request.FILES, move=move, hazard=hazard, actor=user)
        if not form.is_valid():
            messages.error(request, _("“%(action)s” was not done: check the form.") % {"action": move.label})
            return render_detail(request, hazard, bound=form, status=400)
        try:
            services.transition(user, hazard, action, request=request, **form.service_kwargs())
        except DomainError as exc:
            reason = {"action": move.label, "reason": exc.message}
            messages.error(request, _("“%(action)s” was refused: %(reason)s") % reason)
            if exc.field in form.fields:
                form.add_error(exc.field, exc.message)
            return render_detail(request, self.hazard(), bound=form, status=400)
        messages.success(request, _("Done: %(action)s.") % {"action": move.label})
        return redirect("hazards:detail", pk=hazard.pk)


class HazardPlanView(HazardObjectMixin, View):
    """POST the 五落实 plan of a major hazard (`services.update_plan`)."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        hazard = self.hazard()
        user = current_user(request)
        form = PlanForm(request.POST)
        if form.is_valid():
            try:
                services.update_plan(user, hazard, request=request, **form.cleaned_data)
            except DomainError as exc:
                messages.error(request, _("The plan was not saved: %(reason)s") % {"reason": exc.message})
                if exc.field in form.fields:
                    form.add_error(exc.field, exc.message)
            else:
                messages.success(request, _("The five-guarantee plan is saved."))
                return redirect("hazards:detail", pk=hazard.pk)
        return render_detail(request, self.hazard(), plan_form=form, status=400)


class HazardNoticeView(HazardObjectMixin, View):
    """The rectification notice (隐患整改通知书) as a PDF, once the hazard has been assigned."""

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        hazard = self.hazard()
        if hazard.assigned_on is None or hazard.deadline is None:
            raise Http404(_("No rectification notice has been issued for this hazard."))
        event = (
            HazardEvent.objects.filter(hazard=hazard, action="assign")
            .select_related("actor")
            .order_by("-at", "-id")
            .first()
        )
        try:
            days: int | None = calendar.working_days_between(hazard.assigned_on, hazard.deadline)
        except DomainError:
            days = None
        data = notice.notice_pdf(
            hazard,
            issuer=event.actor.display_name if event and event.actor else "",
            issued_on=hazard.assigned_on,
            working_days=days,
        )
        response = HttpResponse(data, content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="hazard-{hazard.pk}-notice.pdf"'
        response["Cache-Control"] = "private, no-store"
        return response


class HazardFileView(ScopedViewMixin, View):
    """A hazard's photo or document, served only to users who can see the hazard (not from a public
    media URL); PDFs are downloaded, images shown."""

    model = Hazard

    def get(self, request: HttpRequest, pk: int) -> FileResponse:
        item = get_object_or_404(HazardFile.objects.filter(hazard__in=self.get_queryset()), pk=pk)
        response = FileResponse(item.file.open("rb"), content_type=item.content_type)
        if item.content_type == "application/pdf":
            response["Content-Disposition"] = f'attachment; filename="hazard-{item.hazard_id}-{item.pk}.pdf"'
        response["X-Content-Type-Options"] = "nosniff"
        return response


# --- deadline extensions and pauses: the institution asks, someone who issues notices decides (POST only) ---


class HazardActionView(ScopedViewMixin, View):
    """One POST on a hazard (or on a request of one), read through the scope; the service's refusal is
    shown as a message, and the user goes back to the hazard's page either way."""

    model = Hazard
    http_method_names = ["post"]
    request_model: Any = None  # Extension or Pause: `pk` names one of the hazard's requests

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        if self.request_model is None:
            target: Any = get_object_or_404(self.get_queryset(), pk=pk)
            hazard_id = target.pk
        else:
            target = get_object_or_404(
                self.request_model.objects.filter(hazard__in=self.get_queryset()), pk=pk
            )
            hazard_id = target.hazard_id
        try:
            messages.success(request, self.act(request, current_user(request), target))
        except DomainError as exc:
            messages.error(request, exc.message)
        return redirect("hazards:detail", pk=hazard_id)

    def act(self, request: HttpRequest, actor: Any, target: Any) -> str:
        raise NotImplementedError


class ExtensionRequestView(HazardActionView):
    def act(self, request: HttpRequest, actor: Any, target: Any) -> str:
        days = request.POST.get("days", "")
        services.request_extension(actor, target, int(days) if days.isdigit() else 0, request.POST.get("reason", ""),
                                   request=request)  # fmt: skip
        return _("The extension is requested.")


class ExtensionDecideView(HazardActionView):
    request_model = Extension

    def act(self, request: HttpRequest, actor: Any, target: Any) -> str:
        services.decide_extension(actor, target, request.POST.get("approve") == "1", request.POST.get("comment", ""),
                                  request=request)  # fmt: skip
        return _("The decision is recorded.")


class PauseRequestView(HazardActionView):
    def act(self, request: HttpRequest, actor: Any, target: Any) -> str:
        services.request_pause(actor, target, request.POST.get("reason", ""), request=request)
        return _("The pause is requested.")


class PauseDecideView(HazardActionView):
    request_model = Pause

    def act(self, request: HttpRequest, actor: Any, target: Any) -> str:
        services.decide_pause(actor, target, request.POST.get("approve") == "1", request.POST.get("comment", ""),
                              request=request)  # fmt: skip
        return _("The decision is recorded.")


class PauseResumeView(HazardActionView):
    def act(self, request: HttpRequest, actor: Any, target: Any) -> str:
        hazard = services.resume(actor, target, request.POST.get("comment", ""), request=request)
        return _("The deadline clock runs again; the deadline is now %(date)s.") % {"date": hazard.deadline}

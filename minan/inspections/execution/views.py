"""Pages of an inspection: the list, the start page, the execution page made for a phone, the
per-item answer and photo endpoints it posts to, submission, the detail page after it, the PDF report,
the photos and signatures (served only through the scope) and cancelling a draft.

Every inspection is read through `Inspection.objects.for_user` (ScopedViewMixin): one outside the
user's scope answers 404, like a missing one. Writes go through `services` only; they check that the
writer leads the inspection (otherwise 403, audited) and refuse with the reason, writing nothing.

The execution page works without JavaScript (each item is a small form posted normally); with
`minan/inspections.js` every change is posted at once to the item's endpoint, which answers JSON, so
a dropped connection loses only the item that could not be sent (shown as "not saved", with retry).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import ListView

from minan.core.audit.services import record_denial
from minan.core.errors import DomainError, NotPermitted
from minan.core.forms import add_refusal
from minan.core.limits import parse_int64
from minan.core.views import ScopedViewMixin, current_user, deny
from minan.hazards.models import Hazard
from minan.hazards.workflow import OPEN_STATES
from minan.institutions.models import Institution

from ..models import Answer, AnswerPhoto, ChecklistItem, ChecklistTemplate, Inspection, InspectionTask, Kind
from . import report, services
from .forms import AnswerForm, CancelForm, PhotoForm, StartForm, SubmitForm

OPEN_HAZARD_CHOICES = 100  # the newest open hazards of the institution offered for a merge


def wants_json(request: HttpRequest) -> bool:
    """The execution page's script asks for JSON; a plain form post gets a page."""
    return "application/json" in request.headers.get("Accept", "")


def refuse(request: HttpRequest, exc: NotPermitted) -> HttpResponse:
    """403 for someone who may see the inspection but not change it (not its lead), audited."""
    if wants_json(request):
        record_denial(f"{exc.message} {request.path}", request=request, object_type="inspections.inspection")
        return JsonResponse({"saved": False, "code": exc.code, "message": exc.message}, status=403)
    deny(request, "inspections.inspection", f"{exc.message} {request.path}")


def decimal_text(value: Decimal | None) -> str:
    if value is None:
        return ""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def answer_value(item: ChecklistItem, given: Answer | None) -> str:
    """What was answered, as shown in lists and the report: the chosen text, the number with its unit,
    else the outcome."""
    if given is None:
        return ""
    if given.text:
        return given.text
    if given.number is not None:
        return f"{decimal_text(given.number)}{item.unit}"
    return str(Answer.Outcome(given.outcome).label)


def range_text(item: ChecklistItem) -> str:
    low, high = decimal_text(item.min_value), decimal_text(item.max_value)
    if low and high:
        return f"{low}–{high}{item.unit}"
    if low:
        return f"≥ {low}{item.unit}"
    if high:
        return f"≤ {high}{item.unit}"
    return ""


def item_rows(
    inspection: Inspection,
    *,
    errors: dict[int, str] | None = None,
    bound: dict[int, dict[str, str]] | None = None,
    with_hazards: bool = False,
) -> list[dict[str, Any]]:
    """The checklist's sections, each with its items and their answers: a fixed number of queries,
    however many items and answers (items with their section; answers with photos; optionally the
    linked hazards)."""
    items = ChecklistItem.objects.filter(template_id=inspection.template_id).select_related(
        "section", "clause__criteria_set"
    )
    answers_qs = Answer.objects.filter(inspection=inspection).prefetch_related("photos")
    if with_hazards:
        answers_qs = answers_qs.select_related("hazard")
    answers = {a.item_id: a for a in answers_qs}
    errors, bound = errors or {}, bound or {}
    sections: list[dict[str, Any]] = []
    for item in items.order_by("section__order", "section_id", "order", "id"):
        given = answers.get(item.pk)
        values = bound.get(item.pk) or {
            "outcome": given.outcome if given else "",
            "number": decimal_text(given.number) if given else "",
            "text": given.text if given else "",
            "note": given.note if given else "",
        }
        row = {
            "item": item,
            "answer": given,
            "values": values,
            "value": answer_value(item, given),
            "outcome_label": Answer.Outcome(given.outcome).label if given else "",
            "photos": list(given.photos.all()) if given else [],
            "error": errors.get(item.pk, ""),
            "range": range_text(item),
            "major": services.is_major(item),
        }
        if not sections or sections[-1]["section"].pk != item.section_id:
            sections.append({"section": item.section, "rows": []})
        sections[-1]["rows"].append(row)
    return sections


def _inspection_queryset(base: QuerySet[Inspection]) -> QuerySet[Inspection]:
    return base.select_related("institution__region", "template", "lead", "task")


class InspectionMixin(ScopedViewMixin):
    """Reads one inspection through the scope (404 outside it)."""

    model = Inspection
    kwargs: dict[str, Any]

    def inspection(self) -> Inspection:
        return get_object_or_404(_inspection_queryset(self.get_queryset()), pk=self.kwargs["pk"])


# --- the list and starting ---------------------------------------------------------------------------------------


class InspectionListView(ScopedViewMixin, ListView):
    """Inspections in scope, newest first, 50 a page; filters: kind, result, status, institution, dates."""

    model = Inspection
    template_name = "inspections/inspection_list.html"
    paginate_by = 50

    def get_queryset(self) -> QuerySet[Inspection]:
        qs = _inspection_queryset(super().get_queryset())
        params = self.request.GET
        if params.get("kind") in Kind.values:
            qs = qs.filter(kind=params["kind"])
        if params.get("result") in Inspection.Result.values:
            qs = qs.filter(result=params["result"])
        if params.get("status") in Inspection.Status.values:
            qs = qs.filter(status=params["status"])
        if params.get("institution", "").isdigit():
            qs = qs.filter(institution_id=int(params["institution"]))
        for name, lookup in (("date_from", "started_at__date__gte"), ("date_to", "started_at__date__lte")):
            try:
                day = dt.date.fromisoformat(params.get(name, ""))
            except ValueError:
                continue
            qs = qs.filter(**{lookup: day})
        return qs.order_by("-started_at", "-id")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        user = current_user(self.request)
        institution_id = self.request.GET.get("institution", "")
        context.update(
            institution=Institution.objects.for_user(user).filter(pk=institution_id).first()
            if institution_id.isdigit()
            else None,
            kind_choices=Kind.choices,
            result_choices=Inspection.Result.choices,
            status_choices=Inspection.Status.choices,
            can_start=user.has_perm("inspections.add_inspection"),
        )
        return context


def suited(template: ChecklistTemplate, kind: str, institution_kind: str) -> bool:
    return (not template.kinds or kind in template.kinds) and (
        not template.institution_kinds or institution_kind in template.institution_kinds
    )


class InspectionStartView(ScopedViewMixin, View):
    """Begin an inspection: ad hoc (institution in scope, kind, a published checklist meant for both) or
    from one of the user's open tasks (`?task=<id>` or its button). `services.start` checks who may
    perform the kind and that the checklist fits; a refusal is shown on its field."""

    model = Inspection
    scope_action = "add"

    def _render(self, request: HttpRequest, form: StartForm, status: int = 200) -> HttpResponse:
        user = current_user(request)
        tasks = (
            InspectionTask.objects.for_user(user)
            .filter(assignee=user, status__in=[InspectionTask.Status.OPEN, InspectionTask.Status.MISSED])
            .select_related("institution", "plan")
            .order_by("due_on", "id")[:20]
        )
        chosen_task = None
        if (task_id := request.GET.get("task", "")).isdigit():
            chosen_task = get_object_or_404(
                InspectionTask.objects.for_user(user).select_related("institution", "plan"), pk=int(task_id)
            )
        institutions: Any = form.fields["institution"]
        templates: Any = form.fields["template"]
        context = {
            "form": form,
            "tasks": tasks,
            "chosen_task": chosen_task,
            "institutions": institutions.queryset,
            "templates": templates.queryset,
        }
        return render(request, "inspections/inspection_start.html", context, status=status)

    def get(self, request: HttpRequest) -> HttpResponse:
        user = current_user(request)
        initial: dict[str, Any] = {}
        if (pk := request.GET.get("institution", "")).isdigit():
            initial["institution"] = get_object_or_404(Institution.objects.for_user(user), pk=int(pk))
        if request.GET.get("kind") in Kind.values:
            initial["kind"] = request.GET["kind"]
        return self._render(request, StartForm(user=user, initial=initial))

    def post(self, request: HttpRequest) -> HttpResponse:
        user = current_user(request)
        if (task_id := parse_int64(request.POST.get("task", ""))) is not None:
            task = get_object_or_404(
                InspectionTask.objects.for_user(user).select_related("institution"), pk=task_id
            )
            try:
                inspection = services.start(
                    user, task.institution, kind=task.kind, task=task,
                    team=request.POST.get("team", "")[:300], request=request,
                )  # fmt: skip
            except DomainError as exc:
                messages.error(request, exc.message)
                return redirect(reverse("inspections:inspection_start") + f"?task={task.pk}")
            return redirect("inspections:inspection_run", pk=inspection.pk)
        form = StartForm(request.POST, user=user)
        if not form.is_valid():
            return self._render(request, form, status=400)
        data = form.cleaned_data
        try:
            inspection = services.start(
                user, data["institution"], kind=data["kind"], template=data["template"], team=data["team"],
                request=request,
            )  # fmt: skip
        except DomainError as exc:
            add_refusal(form, exc)
            return self._render(request, form, status=400)
        messages.success(request, _("Inspection #%(n)d is started.") % {"n": inspection.pk})
        return redirect("inspections:inspection_run", pk=inspection.pk)


# --- carrying it out ---------------------------------------------------------------------------------------------


def render_run(
    request: HttpRequest,
    inspection: Inspection,
    *,
    errors: dict[int, str] | None = None,
    bound: dict[int, dict[str, str]] | None = None,
    missing: list[dict[str, str]] | None = None,
    submit_form: SubmitForm | None = None,
    status: int = 200,
) -> HttpResponse:
    user = current_user(request)
    sections = item_rows(inspection, errors=errors, bound=bound)
    rows = [row for block in sections for row in block["rows"]]
    by_code = {row["item"].code: row["item"].pk for row in rows}
    open_hazards = list(
        Hazard.objects.for_user(user)
        .filter(institution_id=inspection.institution_id, status__in=OPEN_STATES)
        .order_by("-found_at", "-id")[:OPEN_HAZARD_CHOICES]
    )
    chosen = submit_form.merges() if submit_form is not None else {}
    for row in rows:
        row["merge_choice"] = chosen.get(row["item"].pk)
    context = {
        "inspection": inspection,
        "sections": sections,
        "rows": rows,
        "answered": sum(1 for row in rows if row["answer"] is not None),
        "total": len(rows),
        "failed_count": sum(1 for row in rows if row["answer"] and row["answer"].outcome == "fail"),
        "missing": [{**m, "pk": by_code.get(m["item"])} for m in missing or []],
        "open_hazards": open_hazards,
        "submit_form": submit_form or SubmitForm(),
        "cancel_form": CancelForm(),
    }
    return render(request, "inspections/inspection_run.html", context, status=status)


class InspectionRunView(InspectionMixin, View):
    """The execution page of a draft, for its lead; anyone else (and a finished inspection) goes to the
    detail page."""

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        inspection = self.inspection()
        if inspection.status != Inspection.Status.DRAFT or inspection.lead_id != request.user.pk:
            return redirect("inspections:inspection_detail", pk=inspection.pk)
        return render_run(request, inspection)


class InspectionAnswerView(InspectionMixin, View):
    """POST one item's answer (`services.answer`): JSON for the page's script, else back to the page."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int, item: int) -> HttpResponse:
        inspection = self.inspection()
        target = get_object_or_404(ChecklistItem, pk=item, template_id=inspection.template_id)
        form = AnswerForm(request.POST)
        try:
            if not form.is_valid():
                first = next(iter(form.errors.values()))[0]
                raise DomainError(str(first), field=next(iter(form.errors)))
            saved = services.answer(current_user(request), inspection, target, **form.cleaned_data)
        except NotPermitted as exc:
            return refuse(request, exc)
        except DomainError as exc:
            if wants_json(request):
                return JsonResponse(
                    {"saved": False, "code": exc.code, "field": exc.field, "message": exc.message}, status=400
                )
            bound = {target.pk: {k: request.POST.get(k, "") for k in ("outcome", "number", "text", "note")}}
            messages.error(request, _("%(code)s was not saved: %(reason)s") % {"code": target.code,
                                                                              "reason": exc.message})  # fmt: skip
            return render_run(request, inspection, errors={target.pk: exc.message}, bound=bound, status=400)
        if wants_json(request):
            answered = Answer.objects.filter(inspection=inspection).count()
            return JsonResponse(
                {
                    "saved": True,
                    "item": target.code,
                    "outcome": saved.outcome,
                    "outcome_label": str(Answer.Outcome(saved.outcome).label),
                    "value": answer_value(target, saved),
                    "message": _("Saved"),
                    "answered": answered,
                }
            )
        return redirect(reverse("inspections:inspection_run", args=[inspection.pk]) + f"#item-{target.pk}")


def photo_json(photo: AnswerPhoto) -> dict[str, Any]:
    taken = timezone.localtime(photo.taken_at).strftime("%Y-%m-%d %H:%M") if photo.taken_at else ""
    return {
        "id": photo.pk,
        "name": photo.name,
        "url": reverse("inspections:inspection_file", args=[photo.pk]),
        "taken_at": taken,
    }


class InspectionPhotoView(InspectionMixin, View):
    """POST photos of one item (`services.add_photos`: JPEG or PNG checked by decoding, size limit, the
    EXIF time kept)."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int, item: int) -> HttpResponse:
        inspection = self.inspection()
        target = get_object_or_404(ChecklistItem, pk=item, template_id=inspection.template_id)
        form = PhotoForm(request.POST, request.FILES)
        try:
            if not form.is_valid():
                raise DomainError(str(next(iter(form.errors.values()))[0]), field="photos")
            photos = services.add_photos(
                current_user(request), inspection, target, form.cleaned_data["photos"]
            )
        except NotPermitted as exc:
            return refuse(request, exc)
        except DomainError as exc:
            if wants_json(request):
                return JsonResponse(
                    {"saved": False, "code": exc.code, "field": exc.field, "message": exc.message}, status=400
                )
            messages.error(request, _("%(code)s was not saved: %(reason)s") % {"code": target.code,
                                                                              "reason": exc.message})  # fmt: skip
            return render_run(request, inspection, errors={target.pk: exc.message}, status=400)
        if wants_json(request):
            given = Answer.objects.get(inspection=inspection, item=target)
            return JsonResponse(
                {
                    "saved": True,
                    "item": target.code,
                    "outcome": given.outcome,
                    "outcome_label": str(Answer.Outcome(given.outcome).label),
                    "photos": [photo_json(p) for p in photos],
                    "message": _("Saved"),
                    "answered": Answer.objects.filter(inspection=inspection).count(),
                }
            )
        return redirect(reverse("inspections:inspection_run", args=[inspection.pk]) + f"#item-{target.pk}")


class InspectionSubmitView(InspectionMixin, View):
    """POST the submission (`services.submit`). A refusal — items still to answer, a bad signature, a
    merge the rules refuse — re-renders the execution page with the reason (and the list of items,
    linked) and writes nothing."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        inspection = self.inspection()
        form = SubmitForm(request.POST)
        if not form.is_valid():
            messages.error(request, _("The inspection was not submitted: check the form."))
            return render_run(request, inspection, submit_form=form, status=400)
        data = form.cleaned_data
        try:
            inspection = services.submit(
                current_user(request), inspection, merges=form.merges(), representative=data["representative"],
                inspector_signature=data["inspector_signature"],
                representative_signature=data["representative_signature"], summary=data["summary"],
                request=request,
            )  # fmt: skip
        except NotPermitted as exc:
            return refuse(request, exc)
        except DomainError as exc:
            messages.error(
                request, _("The inspection was not submitted: %(reason)s") % {"reason": exc.message}
            )
            if exc.field in form.fields:
                form.add_error(exc.field, exc.message)
            missing = exc.details if exc.code == "missing_answers" and isinstance(exc.details, list) else None
            fresh = self.inspection()
            if fresh.status != Inspection.Status.DRAFT:
                return redirect("inspections:inspection_detail", pk=fresh.pk)
            return render_run(request, fresh, missing=missing, submit_form=form, status=400)
        messages.success(
            request,
            _("Inspection #%(n)d is submitted: %(result)s, %(points)d of %(max)d points.")
            % {"n": inspection.pk, "result": inspection.get_result_display(), "points": inspection.score or 0,
               "max": inspection.max_score or 0},
        )  # fmt: skip
        return redirect("inspections:inspection_detail", pk=inspection.pk)


class InspectionCancelView(InspectionMixin, View):
    """POST the abandonment of a draft with a reason (`services.cancel`); its task stays open."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        inspection = self.inspection()
        form = CancelForm(request.POST)
        if not form.is_valid():
            messages.error(request, _("Give a reason."))
            return redirect("inspections:inspection_run", pk=inspection.pk)
        try:
            services.cancel(current_user(request), inspection, form.cleaned_data["reason"], request=request)
        except NotPermitted as exc:
            return refuse(request, exc)
        except DomainError as exc:
            messages.error(request, exc.message)
            return redirect("inspections:inspection_detail", pk=inspection.pk)
        messages.success(request, _("The inspection is cancelled."))
        return redirect("inspections:inspection_detail", pk=inspection.pk)


# --- after it --------------------------------------------------------------------------------------------------


class InspectionDetailView(InspectionMixin, View):
    """Result, points, every item with its answer, note, photos and the hazard it created or joined,
    the signatures and the PDF; for a draft, what is answered so far."""

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        inspection = self.inspection()
        sections = item_rows(inspection, with_hazards=True)
        rows = [row for block in sections for row in block["rows"]]
        user = current_user(request)
        context = {
            "inspection": inspection,
            "sections": sections,
            "answered": sum(1 for row in rows if row["answer"] is not None),
            "total": len(rows),
            "hazards": [row for row in rows if row["answer"] and row["answer"].hazard_id],
            "is_lead": inspection.lead_id == user.pk,
            "cancel_form": CancelForm(),
        }
        return render(request, "inspections/inspection_detail.html", context)


class InspectionReportView(InspectionMixin, View):
    """The inspection report (检查报告) as an A4 PDF, once submitted; Chinese whatever the UI language."""

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        inspection = self.inspection()
        if inspection.status != Inspection.Status.SUBMITTED:
            raise Http404(_("The report is available once the inspection is submitted."))
        response = HttpResponse(report.report_pdf(inspection), content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="inspection-{inspection.pk}.pdf"'
        response["Cache-Control"] = "private, no-store"
        return response


class InspectionFileView(ScopedViewMixin, View):
    """A photo of an answer, served only to users who can see the inspection."""

    model = Inspection

    def get(self, request: HttpRequest, pk: int) -> FileResponse:
        photo = get_object_or_404(
            AnswerPhoto.objects.filter(answer__inspection__in=self.get_queryset()), pk=pk
        )
        response = FileResponse(photo.file.open("rb"), content_type=photo.content_type)
        response["X-Content-Type-Options"] = "nosniff"
        response["Cache-Control"] = "private"
        return response


class InspectionSignatureView(InspectionMixin, View):
    """The inspector's or the representative's signature (PNG), only to users who can see the inspection."""

    def get(self, request: HttpRequest, pk: int, who: str) -> FileResponse:
        inspection = self.inspection()
        fields = {
            "inspector": inspection.inspector_signature,
            "representative": inspection.representative_signature,
        }
        stored = fields.get(who)
        if not stored:
            raise Http404
        response = FileResponse(stored.open("rb"), content_type="image/png")
        response["X-Content-Type-Options"] = "nosniff"
        response["Cache-Control"] = "private"
        return response

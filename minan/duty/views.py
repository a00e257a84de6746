import datetime as dt
from typing import Any, ClassVar

from django.contrib import messages
from django.db.models import Count, OuterRef, Prefetch, Subquery
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.generic import DetailView, ListView, TemplateView
from django.views.generic.detail import SingleObjectMixin

from minan.accounts.models import User
from minan.accounts.roles import ROLE_LABELS
from minan.core.errors import DomainError
from minan.core.export import XLSX, sheets_response
from minan.core.forms import add_refusal
from minan.core.limits import parse_int64
from minan.core.masking import mask_phone
from minan.core.views import PermissionPageMixin, ScopedViewMixin, current_user, deny
from minan.core.xlsx import ImportRefused, error_table
from minan.institutions.models import Commissioner, Institution
from minan.regions.models import Region

from . import importer, selectors, services
from .forms import AssignmentImportForm, DutyItemFormSet, DutyPostForm, SupervisionGroupForm, VisitForm
from .models import (
    DutyAssignment,
    DutyItem,
    DutyPost,
    DutyVisit,
    DutyVisitPhoto,
    GroupCounty,
    Recurrence,
    SupervisionGroup,
)


class CoverageView(ScopedViewMixin, TemplateView):
    """包保 coverage: institutions without a cadre, cadres above the load limit, coverage per county.

    Every figure comes from the scoped selectors in `duty.selectors`."""

    model = DutyAssignment
    template_name = "duty/coverage.html"
    scope_action = "view"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        user = current_user(self.request)
        limit = selectors.max_load()
        loads = list(selectors.cadre_loads(user))
        context.update(
            unassigned=selectors.unassigned(user)
            .select_related("region")
            .order_by("region_path", "name")[:300],
            unassigned_count=selectors.unassigned(user).count(),
            loads=loads,
            overloaded=[c for c in loads if c.load > limit],
            limit=limit,
            by_county=selectors.coverage_by_county(user),
            cadres=User.objects.for_user(user).filter(role_grants__role="cadre", is_active=True),
            can_assign=user.has_perm("duty.add_dutyassignment"),
        )
        return context

    def post(self, request: HttpRequest) -> HttpResponse:
        """Bulk assignment: the chosen institutions (in scope) all get the chosen cadre, all or nothing."""
        actor = current_user(request)
        # parse_int64: an id of 64 bits ("²" is a digit to isdigit(), 20 digits overflow the driver).
        ids = [n for v in request.POST.getlist("institutions") if (n := parse_int64(v)) is not None][:500]
        chosen = list(Institution.objects.for_user(actor, "change").filter(pk__in=ids))
        cadre_id = parse_int64(request.POST.get("cadre", "")) or 0
        cadre = User.objects.for_user(actor).filter(pk=cadre_id).first()
        if not chosen or cadre is None or len(chosen) != len(set(ids)):
            messages.error(request, _("Choose institutions and a cadre inside your scope."))
            return redirect("duty:coverage")
        try:
            count = services.bulk_assign(actor, chosen, cadre, request=request)
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(
                request,
                _("%(name)s is now responsible for %(n)d institutions.")
                % {"name": cadre.display_name, "n": count},
            )
        return redirect("duty:coverage")


# --- my institutions, duty visits -------------------------------------------------------------------------


class MyInstitutionsView(ScopedViewMixin, TemplateView):
    """The page a cadre opens every morning: their institutions with status, class, open hazards and
    alarms (when those modules provide them), last visit and the next visit due."""

    model = DutyAssignment
    template_name = "duty/mine.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        user = current_user(self.request)
        rows = selectors.my_institutions(user)
        ids = [r.assignment.institution_id for r in rows]
        context.update(
            rows=rows,
            rule=selectors.visit_rule(),
            rule_labels=dict(Recurrence.choices),
            hazards=selectors.institution_facts("open_hazards", ids),
            alarms=selectors.institution_facts("open_alarms", ids),
            overdue=sum(1 for r in rows if r.overdue),
            today=timezone.localdate(),
        )
        return context


class OverdueVisitsView(ScopedViewMixin, ListView):
    """Every overdue duty visit inside the user's scope, the longest overdue first, 100 a page."""

    model = DutyAssignment
    template_name = "duty/overdue.html"
    paginate_by = 100

    def get_queryset(self) -> Any:
        super().get_queryset()
        self.rule = selectors.visit_rule()
        # The selector reads through DutyAssignment.objects.for_user, like super().get_queryset().
        return selectors.overdue_assignments(current_user(self.request), rule=self.rule)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["rows"] = selectors.visit_schedule(context["object_list"], self.rule or "")
        return context


class VisitCreateView(ScopedViewMixin, View):
    """包保督查: the institution's responsible cadre records a visit."""

    model = DutyVisit
    scope_action = "add"

    def _institution(self, pk: int) -> Institution:
        return get_object_or_404(Institution.objects.for_user(current_user(self.request)), pk=pk)

    def _render(self, request: HttpRequest, institution: Institution, form: VisitForm) -> HttpResponse:
        return render(request, "duty/visit_form.html", {"form": form, "institution": institution})

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self._render(request, self._institution(pk), VisitForm())

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        institution = self._institution(pk)
        form = VisitForm(request.POST, request.FILES)
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.record_visit(
                    current_user(request), institution, visited_on=data["visited_on"], checked=data["checked"],
                    findings=data["findings"], photos=data["photos"], request=request,
                )  # fmt: skip
            except DomainError as exc:
                add_refusal(form, exc)
            else:
                messages.success(request, _("The visit is recorded."))
                return redirect("duty:mine")
        return self._render(request, institution, form)


class VisitListView(ScopedViewMixin, ListView):
    """Duty visits inside the user's scope, newest first; filter by institution or month (YYYY-MM)."""

    model = DutyVisit
    template_name = "duty/visit_list.html"
    paginate_by = 50

    def get_queryset(self) -> Any:
        qs = super().get_queryset().select_related("institution__region", "cadre").prefetch_related("photos")
        params = self.request.GET
        if (institution := params.get("institution", "")).isdigit():
            qs = qs.filter(institution_id=int(institution))
        if month := _month(params.get("month", "")):
            qs = qs.filter(visited_on__year=month.year, visited_on__month=month.month)
        return qs


def _month(value: str) -> dt.date | None:
    try:
        return dt.datetime.strptime(value, "%Y-%m").date()
    except ValueError:
        return None


class VisitPhotoView(ScopedViewMixin, View):
    """A visit photo, served only to users who can see the visit (not from a public media URL)."""

    model = DutyVisit

    def get(self, request: HttpRequest, pk: int) -> FileResponse:
        photo = get_object_or_404(DutyVisitPhoto.objects.filter(visit__in=self.get_queryset()), pk=pk)
        response = FileResponse(photo.image.open("rb"), content_type=photo.content_type)
        response["X-Content-Type-Options"] = "nosniff"
        return response


# --- 一行一册 ledger ----------------------------------------------------------------------------------------

LEDGER_HEADERS = [
    gettext_lazy("Township"), gettext_lazy("Institution name"), gettext_lazy("Subtype"), gettext_lazy("Class"), gettext_lazy("responsible cadre"),
    gettext_lazy("Cadre's phone"), gettext_lazy("Supervision group"), *[label for _r, label in Commissioner.Role.choices],
    gettext_lazy("Last duty visit"), gettext_lazy("Open hazards"),
]  # fmt: skip


def _ledger_cells(row: selectors.LedgerRow) -> list[Any]:
    inst = row.institution
    return [
        inst.region.name, inst.name, str(inst.subtype or ""), row.risk_class,
        row.cadre.display_name if row.cadre else "",
        mask_phone(row.cadre.phone) if row.cadre and row.cadre.phone else "",
        row.group, *[row.commissioners.get(role, "") for role in Commissioner.Role.values],
        row.last_visit, "" if row.open_hazards is None else row.open_hazards,
    ]  # fmt: skip


LEDGER_PAGE_ROWS = 1000


def _ledger_kind(request: HttpRequest) -> str:
    kind = request.GET.get("kind", "")
    return kind if kind in Institution.Kind.values else Institution.Kind.ELDERLY_CARE


class LedgerView(ScopedViewMixin, TemplateView):
    """一行一册: one sector's institutions with their whole responsibility chain, by county. A scope
    larger than LEDGER_PAGE_ROWS shows one county at a time (the export always holds every county)."""

    model = DutyAssignment
    template_name = "duty/ledger.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        user = current_user(self.request)
        kind = _ledger_kind(self.request)
        counties = selectors.ledger_counties(user, kind)
        county = self.request.GET.get("county", "")
        if county not in {code for code, _name, _n in counties}:
            county = ""
        total = sum(n for _code, _name, n in counties)
        rows = selectors.ledger(user, kind, county) if county or total <= LEDGER_PAGE_ROWS else []
        tables: dict[str, list[list[Any]]] = {}
        for row in rows:
            cells = [c.isoformat() if isinstance(c, dt.date) else c for c in _ledger_cells(row)]
            tables.setdefault(row.county, []).append(cells)
        context.update(
            kind=kind, kinds=Institution.Kind.choices, county=county, county_choices=counties, total=total,
            tables=tables, choose_county=not county and total > LEDGER_PAGE_ROWS, headers=LEDGER_HEADERS,
            hazards_known=any(r.open_hazards is not None for r in rows),
            can_export=user.has_perm("duty.export_dutyassignment"),
        )  # fmt: skip
        return context


class LedgerExportView(ScopedViewMixin, View):
    """The ledger as xlsx, one sheet per county (sheets in county-code order)."""

    model = DutyAssignment
    scope_action = "export"

    def get(self, request: HttpRequest) -> HttpResponse:
        kind = _ledger_kind(request)
        rows = selectors.ledger(current_user(request), kind)
        by_county: dict[tuple[str, str], list[list[Any]]] = {}
        for row in rows:
            by_county.setdefault((row.county_code, row.county), []).append(_ledger_cells(row))
        headers = [str(h) for h in LEDGER_HEADERS]
        sheets = [(name, headers, cells) for (_code, name), cells in sorted(by_county.items())]
        if not sheets:
            sheets = [(str(Institution.Kind(kind).label), headers, [])]
        return sheets_response(request, f"ledger-{kind}", sheets, model=DutyAssignment)


# --- assignments from xlsx ----------------------------------------------------------------------------------


class AssignmentImportView(ScopedViewMixin, View):
    model = DutyAssignment
    scope_action = "add"

    def get(self, request: HttpRequest) -> HttpResponse:
        if request.GET.get("template"):
            response = HttpResponse(importer.template_bytes(current_user(request)), content_type=XLSX)
            response["Content-Disposition"] = 'attachment; filename="duty-assignments-template.xlsx"'
            return response
        return render(request, "duty/import.html", {"form": AssignmentImportForm()})

    def post(self, request: HttpRequest) -> HttpResponse:
        form = AssignmentImportForm(request.POST, request.FILES)
        context: dict[str, Any] = {"form": form}
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                outcome = importer.import_assignments(
                    current_user(request), upload, upload.name, request=request
                )
            except ImportRefused as exc:
                context.update(problem=exc.message, **error_table(exc.errors))
            except DomainError as exc:
                context.update(problem=exc.message)
            else:
                messages.success(
                    request,
                    _("%(assigned)d assignments made, %(unchanged)d already in place.")
                    % {"assigned": outcome.assigned, "unchanged": outcome.unchanged},
                )
                return redirect("duty:coverage")
        return render(request, "duty/import.html", context)


# --- supervision groups (帮包督导组) -------------------------------------------------------------------------


class GroupListView(ScopedViewMixin, TemplateView):
    """The active supervision groups in the user's scope, and each county in scope with its group:
    counties no group covers are flagged."""

    model = SupervisionGroup
    template_name = "duty/groups.html"
    scope_action = "view"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        user = current_user(self.request)
        groups = (
            SupervisionGroup.objects.for_user(user)
            .filter(active=True)
            .select_related("leader")
            .prefetch_related(
                Prefetch("members", queryset=User.objects.order_by("display_name", "username")),
                Prefetch(
                    "county_links",
                    queryset=GroupCounty.objects.select_related("county").order_by("county__region_path"),
                ),
            )
            .order_by("name")
        )
        covering = GroupCounty.objects.filter(county=OuterRef("pk"), group__active=True)
        counties = list(
            Region.objects.for_user(user)
            .filter(level=Region.Level.COUNTY, active=True)
            .annotate(group_name=Subquery(covering.values("group__name")[:1]))
            .order_by("region_path")
        )
        context.update(
            groups=groups,
            counties=counties,
            uncovered=[c for c in counties if c.group_name is None],
            can_add=user.has_perm("duty.add_supervisiongroup"),
            can_change=user.has_perm("duty.change_supervisiongroup"),
        )
        return context


class GroupFormView(ScopedViewMixin, SingleObjectMixin, View):
    """Create (no pk) or change a supervision group through `services.save_group`."""

    model = SupervisionGroup
    template_name = "duty/group_form.html"

    def get_queryset(self) -> Any:
        return super().get_queryset().filter(active=True)

    def target(self) -> SupervisionGroup | None:
        return self.get_object() if "pk" in self.kwargs else None

    def render_form(
        self, form: SupervisionGroupForm, group: SupervisionGroup | None, status: int = 200
    ) -> Any:
        context = {"form": form, "object": group, "creating": group is None}
        return render(self.request, self.template_name, context, status=status)

    def get(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        group = self.target()
        initial = {}
        if group is not None:
            initial = {
                "name": group.name,
                "leader": group.leader_id,
                "members": list(group.members.values_list("pk", flat=True)),
                "counties": list(group.county_links.values_list("county_id", flat=True)),
            }
        return self.render_form(
            SupervisionGroupForm(initial=initial, user=current_user(request), group=group), group
        )

    def post(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        actor = current_user(request)
        group = self.target()
        form = SupervisionGroupForm(request.POST, user=actor, group=group)
        if form.is_valid():
            data = form.cleaned_data
            try:
                saved = services.save_group(
                    actor,
                    group,
                    name=data["name"],
                    leader=data["leader"],
                    members=list(data["members"]),
                    counties=list(data["counties"]),
                    request=request,
                )
            except DomainError as exc:
                add_refusal(form, exc)
            else:
                messages.success(
                    request, _("The supervision group %(name)s was saved.") % {"name": saved.name}
                )
                return redirect("duty:groups")
        return self.render_form(form, group, status=400)


class GroupCreateView(GroupFormView):
    scope_action = "add"


class GroupEditView(GroupFormView):
    scope_action = "change"


class GroupDisbandView(ScopedViewMixin, SingleObjectMixin, View):
    """POST: disband a group with a reason; its counties become uncovered."""

    model = SupervisionGroup
    scope_action = "change"
    http_method_names = ["post"]

    def get_queryset(self) -> Any:
        return super().get_queryset().filter(active=True)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        group = self.get_object()
        try:
            services.disband_group(
                current_user(request), group, request.POST.get("reason", ""), request=request
            )
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(
                request, _("The supervision group %(name)s was disbanded.") % {"name": group.name}
            )
        return redirect("duty:groups")


# --- duty lists (岗位责任清单) -------------------------------------------------------------------------------


class DutyPostAccessMixin(PermissionPageMixin):
    """Pages of the duty lists.

    Not scoped: posts and their duties are CONFIGURABLE reference data shared by the whole deployment,
    not rows of a region (like the classification scheme); `permission` decides who sees and who edits,
    and a refusal is audited. People shown or offered on these pages are read through
    `User.objects.for_user`."""

    permission: ClassVar[str] = "duty.view_dutypost"
    object_type: ClassVar[str] = "duty.dutypost"


def _numbered_items() -> Prefetch:
    return Prefetch("items", queryset=DutyItem.objects.order_by("number"))


class DutyPostListView(DutyPostAccessMixin, TemplateView):
    """Every post with its numbered duties and who holds it; edit links for `duty.change_dutypost`."""

    template_name = "duty/posts.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        user = current_user(self.request)
        # Named holders outside the viewer's scope are counted, not named.
        visible = User.objects.for_user(user).order_by("display_name", "username")
        posts = (
            DutyPost.objects.prefetch_related(
                _numbered_items(), Prefetch("holders", queryset=visible, to_attr="visible_holders")
            )
            .annotate(holder_count=Count("holders", distinct=True))
            .order_by("order", "code")
        )
        context.update(
            rows=[
                {
                    "post": post,
                    "role_label": ROLE_LABELS.get(post.role, post.role),
                    "holders": post.visible_holders,
                    "hidden_holders": post.holder_count - len(post.visible_holders),
                }
                for post in posts
            ],
            visit_rule=selectors.visit_rule(),
            can_edit=user.has_perm("duty.change_dutypost"),
        )
        return context


class DutyPostEditView(DutyPostAccessMixin, TemplateView):
    """Create (`duty:post_new`) or change (`duty:post_edit`) a post and its numbered duties.

    Saving replaces the post's duties with the rows of the form, numbered in form order; a row whose
    text is emptied is removed. A refusal of the service is shown on the form and nothing is changed."""

    template_name = "duty/post_form.html"
    permission: ClassVar[str] = "duty.change_dutypost"

    def _post(self) -> DutyPost | None:
        pk = self.kwargs.get("pk")
        return None if pk is None else get_object_or_404(DutyPost, pk=pk)

    def _render(
        self, post: DutyPost | None, form: Any, formset: Any, items_error: str = "", status: int = 200
    ) -> HttpResponse:
        actor = current_user(self.request)
        hidden = post.holders.exclude(pk__in=User.objects.for_user(actor).values("pk")).count() if post else 0
        context = self.get_context_data(
            post=post, form=form, formset=formset, items_error=items_error, hidden_holders=hidden
        )
        return self.render_to_response(context, status=status)

    def get(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        post = self._post()
        actor = current_user(request)
        if post is None:
            form = DutyPostForm(actor=actor)
            formset = DutyItemFormSet(prefix="items")
        else:
            form = DutyPostForm(
                actor=actor,
                post=post,
                initial={"name": post.name, "role": post.role, "holders": list(post.holders.all())},
            )
            formset = DutyItemFormSet(
                prefix="items",
                initial=[
                    {"text": i.text, "recurrence": i.recurrence, "task": i.task}
                    for i in post.items.order_by("number")
                ],
            )
        return self._render(post, form, formset)

    def post(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        post = self._post()
        actor = current_user(request)
        form = DutyPostForm(request.POST, actor=actor, post=post)
        formset = DutyItemFormSet(request.POST, prefix="items")
        if not (form.is_valid() and formset.is_valid()):
            return self._render(post, form, formset, status=400)
        data = form.cleaned_data
        items = [
            (
                f.cleaned_data.get("text", ""),
                f.cleaned_data.get("recurrence", ""),
                f.cleaned_data.get("task", ""),
            )
            for f in formset.forms
        ]
        try:
            saved = services.save_post(
                actor,
                post,
                code=data.get("code") or (post.code if post else ""),
                name=data["name"],
                role=data["role"],
                holders=list(data["holders"]),
                items=items,
                request=request,
            )
        except DomainError as exc:
            if exc.field == "items":
                return self._render(post, form, formset, items_error=exc.message, status=400)
            add_refusal(form, exc)
            return self._render(post, form, formset, status=400)
        messages.success(request, _("Saved."))
        return redirect(reverse("duty:posts") + f"#post-{saved.code}")


class MyDutyListView(DutyPostAccessMixin, TemplateView):
    """The signed-in person's own duty list (the union of the posts they hold), printable.

    Not scoped: it shows reference data and the requester's own posts only."""

    template_name = "duty/duty_list.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        user = current_user(self.request)
        context.update(person=user, posts=selectors.posts_for(user), own=True, today=timezone.localdate())
        return context


class PersonDutyListView(ScopedViewMixin, DetailView):
    """Another person's printable duty list; the person is read through `User.objects.for_user`, so
    someone outside the viewer's scope is a 404."""

    model = User
    template_name = "duty/duty_list.html"
    context_object_name = "person"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if request.user.is_authenticated and not request.user.has_perm("duty.view_dutypost"):
            deny(request, "duty.dutypost", f"duty.view_dutypost {request.path}")
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(posts=selectors.posts_for(self.object), own=False, today=timezone.localdate())
        return context

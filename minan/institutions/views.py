from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.generic import DetailView, ListView, TemplateView
from django.views.generic.detail import SingleObjectMixin

from minan.core import panels
from minan.core.errors import DomainError
from minan.core.forms import add_refusal
from minan.core.masking import mask_phone
from minan.core.views import ScopedActionView, ScopedViewMixin, current_user
from minan.regions.models import Region

from . import services
from .forms import CommissionerForm, InstitutionForm, OwnershipForm, PolicyForm, SubtypeForm
from .models import Commissioner, Institution, InsurancePolicy, Ownership, RiskClass, Subtype
from .selectors import SORTS, filter_institutions, insurance_overview

# The page's own tabs, by place; other apps add theirs through the registry (duty 20, hazards 40,
# inspections 50).
OWN_TABS = [
    (10, "facts", gettext_lazy("Facts")),
    (30, "commissioners", gettext_lazy("Four commissioners")),
    (60, "insurance", gettext_lazy("Insurance")),
    (70, "code", gettext_lazy("Public code")),
    (80, "history", gettext_lazy("History")),
]


def tabs() -> list[tuple[str, Any]]:
    found = OWN_TABS + [(t.order, t.key, t.label) for t in panels.institution_tabs()]
    return [(key, label) for _order, key, label in sorted(found, key=lambda t: t[0])]


# Tabs the later modules fill; shown so that staff know where things will be.
LATER_TABS = [gettext_lazy("Alarms"), gettext_lazy("Documents")]


class InstitutionListView(ScopedViewMixin, ListView):
    model = Institution
    template_name = "institutions/institution_list.html"
    paginate_by = 50

    def get_queryset(self) -> Any:
        return filter_institutions(super().get_queryset(), self.request.GET)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        user = current_user(self.request)
        context.update(
            kind_choices=Institution.Kind.choices,
            status_choices=Institution.Status.choices,
            classes=RiskClass.objects.all(),
            counties=Region.objects.for_user(user).filter(level=Region.Level.COUNTY),
            sorts=list(SORTS),
            stars=range(6),
        )
        return context


class InsuranceView(ScopedViewMixin, TemplateView):
    """综合责任保险: coverage rate, policies ending soon and operating institutions without cover.

    Every figure comes from `insurance_overview`, which reads through for_user()."""

    model = InsurancePolicy
    template_name = "institutions/insurance.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["overview"] = insurance_overview(current_user(self.request))
        return context


class InstitutionDetailView(ScopedViewMixin, DetailView):
    model = Institution
    template_name = "institutions/institution_detail.html"

    def get_queryset(self) -> Any:
        qs = super().get_queryset()
        return qs.select_related(
            "region", "region__parent", "subtype", "ownership", "risk_class", "class_override"
        )

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        institution: Institution = self.object
        user = current_user(self.request)
        tab = self.request.GET.get("tab", "facts")
        all_tabs = tabs()
        tab = tab if tab in dict(all_tabs) else "facts"
        today = timezone.localdate()
        context.update(
            tab=tab, tabs=all_tabs, later_tabs=LATER_TABS, today=today, classes=RiskClass.objects.all()
        )
        if (registered := panels.institution_tab(tab)) is not None:
            context["tab_template"] = registered.template
            context.update(registered.context(user, institution))
        context["can_change"] = user.has_perm("institutions.change_institution")
        context["contact_phone_masked"] = (
            mask_phone(institution.contact_phone) if institution.contact_phone else ""
        )
        if tab == "commissioners":
            held = {c.role: c for c in institution.commissioners.select_related("user")}
            context["commissioner_rows"] = [
                (role, label, held.get(role)) for role, label in Commissioner.Role.choices
            ]
            context["commissioner_form"] = CommissionerForm(user=user)
        elif tab == "insurance":
            context["policies"] = institution.policies.all()
            context["policy_form"] = PolicyForm()
        elif tab == "history":
            context["changes"] = institution.changes.select_related("user")[:200]
        return context


class InstitutionCreateView(ScopedViewMixin, View):
    model = Institution
    scope_action = "add"

    def get(self, request: HttpRequest) -> HttpResponse:
        form = InstitutionForm(user=current_user(request))
        return render(request, "institutions/institution_form.html", {"form": form, "creating": True})

    def post(self, request: HttpRequest) -> HttpResponse:
        form = InstitutionForm(request.POST, user=current_user(request))
        if form.is_valid():
            data = dict(form.cleaned_data)
            try:
                institution = services.create_institution(current_user(request), request=request, **data)
            except DomainError as exc:
                add_refusal(form, exc)
            else:
                messages.success(
                    request, _("The institution %(name)s was created.") % {"name": institution.name}
                )
                return redirect("institutions:detail", pk=institution.pk)
        return render(
            request, "institutions/institution_form.html", {"form": form, "creating": True}, status=400
        )


class InstitutionEditView(ScopedViewMixin, SingleObjectMixin, View):
    model = Institution
    scope_action = "change"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        institution = self.get_object()
        form = InstitutionForm(instance=institution, user=current_user(request))
        return render(request, "institutions/institution_form.html", {"form": form, "object": institution})

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        institution = self.get_object()
        # The form only validates input (its _post_clean is off), so the scoped object itself is safe to pass.
        form = InstitutionForm(request.POST, instance=institution, user=current_user(request))
        if form.is_valid():
            try:
                services.update_institution(
                    current_user(request), institution, request=request, **form.cleaned_data
                )
            except DomainError as exc:
                add_refusal(form, exc)
            else:
                messages.success(request, _("Saved."))
                return redirect("institutions:detail", pk=institution.pk)
        return render(
            request, "institutions/institution_form.html", {"form": form, "object": institution}, status=400
        )


class InstitutionActionView(ScopedActionView):
    """POST actions from the detail page: commissioners and insurance. Each calls one service."""

    model = Institution
    TABS = {
        "add-policy": "insurance",
        "delete-policy": "insurance",
    }

    def success_url(self, target: Any, action: str) -> str:
        registered = panels.institution_action(action)
        tab = registered[0].key if registered else self.TABS.get(action, "commissioners")
        return reverse("institutions:detail", args=[target.pk]) + f"?tab={tab}"

    def perform(self, action: str, arg: str, target: Any, actor: Any) -> None:
        request = self.request
        if action == "set-commissioner":
            form = CommissionerForm(request.POST, user=actor)
            if not form.is_valid():
                raise DomainError(_("Choose a role and a person inside your scope."))
            services.set_commissioner(
                actor, target, form.cleaned_data["role"], form.cleaned_data["user"], request=request
            )
        elif action == "remove-commissioner":
            services.remove_commissioner(actor, target, arg, request=request)
        elif action == "add-policy":
            policy_form = PolicyForm(request.POST)
            if not policy_form.is_valid():
                raise DomainError(" ".join(str(m) for ms in policy_form.errors.values() for m in ms))
            services.add_policy(
                actor, target, services.PolicyData(**policy_form.cleaned_data), request=request
            )
        elif action == "delete-policy":
            policy = InsurancePolicy.objects.filter(
                pk=arg if arg.isdigit() else 0, institution=target
            ).first()
            if policy is None:
                raise DomainError(_("That policy does not exist."))
            services.delete_policy(actor, policy, request=request)
        elif (registered := panels.institution_action(action)) is not None:
            registered[1](request, actor, target, arg)
        else:
            raise DomainError(_("Unknown action."))


class ListsView(LoginRequiredMixin, TemplateView):
    """The CONFIGURABLE lists: subtypes per kind and ownership models.

    Not scoped: reference data for every region; roles decide who sees (view_institution) and who
    edits (change_subtype / change_ownership)."""

    template_name = "institutions/lists.html"
    scoped = False

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if request.user.is_authenticated and not request.user.has_perm("institutions.view_institution"):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        user = current_user(self.request)
        context.update(
            subtypes=Subtype.objects.all(),
            ownerships=Ownership.objects.all(),
            subtype_form=kwargs.get("subtype_form") or SubtypeForm(),
            ownership_form=kwargs.get("ownership_form") or OwnershipForm(),
            can_edit_subtypes=user.has_perm("institutions.change_subtype"),
            can_edit_ownership=user.has_perm("institutions.change_ownership"),
        )
        return context

    def post(self, request: HttpRequest) -> HttpResponse:
        actor = current_user(request)
        subtype_form, ownership_form = SubtypeForm(), OwnershipForm()
        try:
            if request.POST.get("list") == "subtype":
                subtype_form = SubtypeForm(request.POST)
                if subtype_form.is_valid():
                    services.save_subtype(actor, request=request, **subtype_form.cleaned_data)
                    messages.success(request, _("Saved."))
                    return redirect("institutions:lists")
            else:
                ownership_form = OwnershipForm(request.POST)
                if ownership_form.is_valid():
                    services.save_ownership(actor, request=request, **ownership_form.cleaned_data)
                    messages.success(request, _("Saved."))
                    return redirect("institutions:lists")
        except DomainError as exc:
            target = subtype_form if request.POST.get("list") == "subtype" else ownership_form
            add_refusal(target, exc)
        context = self.get_context_data(subtype_form=subtype_form, ownership_form=ownership_form)
        return self.render_to_response(context, status=400)

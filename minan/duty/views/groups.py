"""Supervision groups (帮包督导组): the list with the counties they cover, create, change, disband."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import OuterRef, Prefetch, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import TemplateView
from django.views.generic.detail import SingleObjectMixin

from minan.accounts.models import User
from minan.core.errors import DomainError
from minan.core.forms import add_refusal
from minan.core.views import ScopedViewMixin, current_user
from minan.regions.models import Region

from .. import services
from ..forms import SupervisionGroupForm
from ..models import GroupCounty, SupervisionGroup


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

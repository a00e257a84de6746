"""The expert roster pages (专家库): list, add an account, edit an entry. `inspections.change_expert`."""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views import View

from minan.core.errors import DomainError
from minan.core.views import PermissionPageMixin, current_user
from minan.hazards.models import Category

from ..models import Expert
from . import services
from .forms import ExpertForm


class ExpertMixin(PermissionPageMixin):
    permission: ClassVar[str] = services.EDIT_PERMISSION
    object_type: ClassVar[str] = "inspections.expert"


class ExpertListView(ExpertMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        roster = list(Expert.objects.select_related("user").order_by("-active", "user__display_name"))
        today = timezone.localdate()
        labels = dict(Category.choices)
        rows = [
            {
                "expert": e,
                "fields": "、".join(str(labels.get(f, f)) for f in e.fields),
                "expired": e.valid_until is not None and e.valid_until < today,
            }
            for e in roster
        ]
        return render(request, "inspections/expert_list.html", {"rows": rows})


class ExpertFormView(ExpertMixin, View):
    template_name = "inspections/expert_form.html"

    def _expert(self, pk: int | None) -> Expert | None:
        return get_object_or_404(Expert.objects.select_related("user"), pk=pk) if pk else None

    def get(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        expert = self._expert(pk)
        initial = {f: getattr(expert, f) for f in services.FIELDS} if expert else {}
        if expert:
            initial["areas"] = initial.pop("fields")
        form = ExpertForm(initial=initial, creating=expert is None)
        return render(request, self.template_name, {"form": form, "expert": expert})

    def post(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        expert = self._expert(pk)
        form = ExpertForm(request.POST, creating=expert is None)
        if form.is_valid():
            values = dict(form.cleaned_data)
            user = values.pop("user", None)
            values["fields"] = values.pop("areas")
            valid_until: dt.date | None = values.get("valid_until")
            values["valid_until"] = valid_until
            try:
                saved = services.save_expert(
                    current_user(request), expert, user=user, request=request, **values
                )
            except DomainError as exc:
                form.add_error(
                    ("areas" if exc.field == "fields" else exc.field)
                    if exc.field in {*form.fields, "fields"}
                    else None,
                    exc.message,
                )
            else:
                messages.success(
                    request, _("%(name)s is saved on the roster.") % {"name": saved.user.display_name}
                )
                return redirect("inspections:expert_list")
        return render(request, self.template_name, {"form": form, "expert": expert}, status=400)

"""The expert roster pages (专家库): list, add an account, edit an entry. `inspections.change_expert`."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View

from minan.accounts.roles import EXPERT
from minan.core.errors import DomainError
from minan.core.views import PermissionPageMixin, current_user
from minan.hazards.models import Category

from . import experts
from .models import Expert


class ExpertForm(forms.Form):
    user = forms.ModelChoiceField(label=gettext_lazy("account"), queryset=get_user_model().objects.none())
    organisation = forms.CharField(label=gettext_lazy("organisation"), max_length=200, required=False)
    areas = forms.MultipleChoiceField(
        label=gettext_lazy("fields"),
        choices=Category.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    qualification = forms.CharField(label=gettext_lazy("qualification"), max_length=200)
    certificate_no = forms.CharField(label=gettext_lazy("certificate number"), max_length=60, required=False)
    valid_until = forms.DateField(
        label=gettext_lazy("valid until"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    active = forms.BooleanField(label=gettext_lazy("active"), required=False, initial=True)

    def __init__(self, *args: Any, creating: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if creating:
            # Accounts with the expert role not yet on the roster.
            self.fields["user"].queryset = (  # type: ignore[attr-defined]
                get_user_model()
                .objects.filter(is_active=True, role_grants__role=EXPERT, expert__isnull=True)
                .order_by("display_name")
            )
        else:
            del self.fields["user"]


class ExpertMixin(PermissionPageMixin):
    permission: ClassVar[str] = experts.EDIT_PERMISSION
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
        initial = {f: getattr(expert, f) for f in experts.FIELDS} if expert else {}
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
                saved = experts.save_expert(
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


urls = [
    path("experts/", ExpertListView.as_view(), name="expert_list"),
    path("experts/new/", ExpertFormView.as_view(), name="expert_new"),
    path("experts/<int:pk>/", ExpertFormView.as_view(), name="expert_edit"),
]

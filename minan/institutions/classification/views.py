"""Pages of the classification scheme and the manual class of one institution."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.db.models import Count
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.generic import TemplateView
from django.views.generic.detail import SingleObjectMixin

from minan.core.errors import DomainError
from minan.core.forms import add_refusal
from minan.core.views import ScopedViewMixin, current_user, deny

from ..models import ClassRule, Institution, RiskClass
from . import derive as classification
from . import services as class_services

VIEW_PERMISSION = "institutions.view_institution"


class RiskClassForm(forms.Form):
    code = forms.CharField(label=gettext_lazy("Code"), max_length=10)
    label = forms.CharField(label=gettext_lazy("Label"), max_length=30)
    colour = forms.CharField(
        label=gettext_lazy("Colour"),
        max_length=7,
        initial="#27AE60",
        widget=forms.TextInput(attrs={"type": "color"}),
        help_text=gettext_lazy("#RRGGBB"),
    )
    order = forms.IntegerField(
        label=gettext_lazy("Order"),
        min_value=0,
        max_value=32767,
        initial=0,
        help_text=gettext_lazy("Classes are tried in this order; the first whose rules match wins."),
    )
    min_inspections_per_year = forms.IntegerField(
        label=gettext_lazy("Minimum on-site inspections per year"), min_value=1, max_value=366, initial=1
    )
    always_sample = forms.BooleanField(label=gettext_lazy("Always included in random checks"), required=False)
    sample_weight = forms.DecimalField(
        label=gettext_lazy("Random-check weight"), max_digits=5, decimal_places=2, min_value=0, initial=1
    )
    is_default = forms.BooleanField(
        label=gettext_lazy("Default class"),
        required=False,
        help_text=gettext_lazy("Applies when no rule matches; the scheme has exactly one."),
    )


class ClassRuleForm(forms.Form):
    risk_class = forms.ModelChoiceField(label=gettext_lazy("Class"), queryset=RiskClass.objects.none())
    condition = forms.ChoiceField(label=gettext_lazy("Condition"), choices=())
    threshold = forms.IntegerField(
        label=gettext_lazy("N"),
        required=False,
        min_value=1,
        max_value=100000,
        help_text=gettext_lazy("Required for conditions with N; leave empty for the others."),
    )
    order = forms.IntegerField(
        label=gettext_lazy("Order within the class"), min_value=0, max_value=32767, initial=0, required=False
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["risk_class"].queryset = RiskClass.objects.order_by("order", "code")  # type: ignore[attr-defined]
        no_source = _("no data source yet")
        self.fields["condition"].choices = [  # type: ignore[attr-defined]
            (value, label if classification.has_source(value) else f"{label} ({no_source})")
            for value, label in ClassRule.Condition.choices
        ]


def _add_domain_error(form: forms.Form, exc: DomainError) -> None:
    add_refusal(form, exc)


class ClassSchemeView(LoginRequiredMixin, TemplateView):
    """The classification scheme: classes, rules in words, warnings, and editing for administrators.

    Not scoped: the scheme is configuration shared by the whole deployment. The only scoped data on the
    page, the number of institutions per class, is read through `Institution.objects.for_user`.
    """

    template_name = "institutions/classes/scheme.html"
    scoped = False

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if request.user.is_authenticated and not request.user.has_perm(VIEW_PERMISSION):
            self._deny(request, "view")
        return super().dispatch(request, *args, **kwargs)

    @staticmethod
    def _deny(request: HttpRequest, action: str) -> None:
        deny(request, "institutions.riskclass", f"{action} {request.path}")

    def _can_edit(self) -> bool:
        return self.request.user.has_perm(classification.SCHEME_PERMISSION)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        scheme = classification.load_scheme()
        counts = dict(
            Institution.objects.for_user(self.request.user)
            .annotate(effective=Coalesce("class_override_id", "risk_class_id"))
            .order_by()
            .values_list("effective")
            .annotate(n=Count("pk"))
        )
        rows = [
            {
                "risk_class": rc,
                "rules": [
                    {
                        "rule": rule,
                        "text": classification.rule_text(rule),
                        "has_source": classification.has_source(rule.condition),
                    }
                    for rule in rc.rules.all()
                ],
                "count": counts.get(rc.pk, 0),
            }
            for rc in scheme.classes
        ]
        can_edit = self._can_edit()
        context.update(
            rows=rows,
            unclassified=counts.get(None, 0),
            warnings=classification.scheme_warnings(scheme),
            can_edit=can_edit,
        )
        if can_edit:
            editing_class = self._editing(RiskClass, "edit_class")
            editing_rule = self._editing(ClassRule, "edit_rule")
            class_form = kwargs.get("class_form")
            if class_form is None:
                initial = (
                    {name: getattr(editing_class, name) for name in class_services.CLASS_FIELDS}
                    if editing_class
                    else None
                )
                class_form = RiskClassForm(initial=initial)
            rule_form = kwargs.get("rule_form")
            if rule_form is None:
                initial = (
                    {
                        "risk_class": editing_rule.risk_class_id,
                        "condition": editing_rule.condition,
                        "threshold": editing_rule.threshold,
                        "order": editing_rule.order,
                    }
                    if editing_rule
                    else None
                )
                rule_form = ClassRuleForm(initial=initial)
            context.update(
                class_form=class_form,
                rule_form=rule_form,
                editing_class=kwargs.get("editing_class", editing_class),
                editing_rule=kwargs.get("editing_rule", editing_rule),
            )
        return context

    def _editing(self, model: Any, param: str) -> Any:
        raw = self.request.GET.get(param, "")
        return model.objects.filter(pk=int(raw)).first() if raw.isdigit() else None

    def post(self, request: HttpRequest) -> HttpResponse:
        if not self._can_edit():
            self._deny(request, "change")
        actor = current_user(request)
        action = request.POST.get("action")
        class_form: RiskClassForm | None = None
        rule_form: ClassRuleForm | None = None
        editing_class = editing_rule = None
        try:
            if action == "save-class":
                editing_class = self._posted(RiskClass)
                class_form = RiskClassForm(request.POST)
                if class_form.is_valid():
                    try:
                        class_services.save_class(
                            actor, class_form.cleaned_data, instance=editing_class, request=request
                        )
                    except DomainError as exc:
                        _add_domain_error(class_form, exc)
                    else:
                        return self._saved(request)
            elif action == "make-default":
                target = self._posted(RiskClass)
                if target is not None:
                    class_services.set_default_class(actor, target, request=request)
                return self._saved(request)
            elif action == "save-rule":
                editing_rule = self._posted(ClassRule)
                rule_form = ClassRuleForm(request.POST)
                if rule_form.is_valid():
                    data = rule_form.cleaned_data
                    try:
                        class_services.save_rule(
                            actor,
                            risk_class=data["risk_class"],
                            condition=data["condition"],
                            threshold=data["threshold"],
                            order=data["order"] or 0,
                            instance=editing_rule,
                            request=request,
                        )
                    except DomainError as exc:
                        _add_domain_error(rule_form, exc)
                    else:
                        return self._saved(request)
            elif action == "delete-rule":
                rule = self._posted(ClassRule)
                if rule is not None:
                    class_services.delete_rule(actor, rule, request=request)
                messages.success(request, _("Deleted."))
                return redirect("institutions:classes")
            else:
                return redirect("institutions:classes")
        except DomainError as exc:
            messages.error(request, exc.message)
            return redirect("institutions:classes")
        context = self.get_context_data(
            class_form=class_form,
            rule_form=rule_form,
            editing_class=editing_class,
            editing_rule=editing_rule,
        )
        return self.render_to_response(context, status=400)

    def _posted(self, model: Any) -> Any:
        raw = self.request.POST.get("id", "")
        return model.objects.filter(pk=int(raw)).first() if raw.isdigit() else None

    @staticmethod
    def _saved(request: HttpRequest) -> HttpResponse:
        messages.success(request, _("Saved. Institutions are being reclassified in the background."))
        return redirect("institutions:classes")


class ClassOverrideView(ScopedViewMixin, SingleObjectMixin, View):
    """POST: set (`risk_class` = a class id, with `reason`) or clear (`risk_class` empty) the manual class."""

    model = Institution
    scope_action = "change"
    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        institution = self.get_object()  # 404 outside the user's scope
        actor = current_user(request)
        raw = request.POST.get("risk_class", "").strip()
        try:
            if not raw:
                if class_services.clear_override(actor, institution, request=request):
                    messages.success(request, _("The manual class was removed; the derived class applies."))
                else:
                    messages.info(request, _("No class was set by hand."))
            else:
                risk_class = RiskClass.objects.filter(pk=int(raw)).first() if raw.isdigit() else None
                if risk_class is None:
                    raise DomainError(_("Choose a class."), field="risk_class")
                class_services.set_override(
                    actor, institution, risk_class, request.POST.get("reason", ""), request=request
                )
                messages.success(request, _("The class was set by hand."))
        except DomainError as exc:
            messages.error(request, exc.message)
        return redirect("institutions:detail", pk=institution.pk)

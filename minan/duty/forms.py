"""Forms of the 包保 pages. They validate input; the services do the writing."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from minan.accounts.models import User
from minan.accounts.roles import ROLE_CHOICES, SUPERVISION_MEMBER
from minan.regions.models import Region

from .models import DutyItem, DutyPost, GroupCounty, Recurrence


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one field (Django's documented recipe); the service checks each file's type."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": "image/jpeg,image/png"}))
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> Any:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(d, initial) for d in data]
        return [single(data, initial)] if data else []


class VisitForm(forms.Form):
    visited_on = forms.DateField(
        label=_("visited on"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    checked = forms.CharField(
        label=_("what was checked"), max_length=2000, widget=forms.Textarea(attrs={"rows": 4})
    )
    findings = forms.CharField(
        label=_("findings"), max_length=4000, required=False, widget=forms.Textarea(attrs={"rows": 4})
    )
    photos = MultipleFileField(label=_("photos (JPEG or PNG, up to six)"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["visited_on"].initial = timezone.localdate()


class AssignmentImportForm(forms.Form):
    file = forms.FileField(label=_("xlsx file"), widget=forms.ClearableFileInput(attrs={"accept": ".xlsx"}))


class SupervisionGroupForm(forms.Form):
    """帮包督导组: validates input shape; `services.save_group` applies the rules (roles, scope, one group
    per county). Choices are read through the scoping mechanism."""

    name = forms.CharField(label=_("name"), max_length=100)
    leader: forms.ModelChoiceField[Any] = forms.ModelChoiceField(label=_("leader"), queryset=None)
    members: forms.ModelMultipleChoiceField[Any] = forms.ModelMultipleChoiceField(
        label=_("members"), queryset=None, required=False, widget=forms.CheckboxSelectMultiple
    )
    counties: forms.ModelMultipleChoiceField[Any] = forms.ModelMultipleChoiceField(
        label=_("counties covered"), queryset=None, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args: Any, user: Any, group: Any = None, **kwargs: Any) -> None:

        super().__init__(*args, **kwargs)
        people = (
            User.objects.for_user(user)
            .filter(is_active=True, role_grants__role=SUPERVISION_MEMBER)
            .order_by("display_name", "username")
            .distinct()
        )
        self.fields["leader"].queryset = people  # type: ignore[attr-defined]
        self.fields["members"].queryset = people  # type: ignore[attr-defined]
        counties = Region.objects.for_user(user).filter(level=Region.Level.COUNTY).order_by("region_path")
        self.fields["counties"].queryset = counties  # type: ignore[attr-defined]
        # Say which counties another group already covers (the service refuses them).
        taken = dict(
            GroupCounty.objects.filter(group__active=True, county__in=counties)
            .exclude(group=group)
            .values_list("county_id", "group__name")
        )

        def county_label(region: Any) -> str:
            if region.pk in taken:
                return str(_("%(county)s (covered by %(group)s)")) % {
                    "county": region.name,
                    "group": taken[region.pk],
                }
            return str(region.name)

        self.fields["counties"].label_from_instance = county_label  # type: ignore[attr-defined]


# --- duty lists (岗位责任清单) -------------------------------------------------------------------------------


class HolderField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.display_name} ({obj.username})"


class DutyPostForm(forms.Form):
    """A post's name, code (new posts only), role and named holders; its duties come in the formset.
    The form validates the shape; `services.save_post` applies the rules and writes."""

    name = forms.CharField(label=_("Name"), max_length=60)
    code = forms.SlugField(
        label=_("Code"),
        max_length=40,
        help_text=_("Letters, digits, hyphens and underscores; it cannot be changed later."),
    )
    role = forms.ChoiceField(
        label=_("Held by everyone with the role"),
        required=False,
        choices=(),
        help_text=_("Leave empty when the post is held only by the people named below."),
    )
    holders = HolderField(
        label=_("Also held by"),
        required=False,
        queryset=User.objects.none(),
        widget=forms.SelectMultiple(attrs={"size": 8}),
        help_text=_("People inside your scope; hold Ctrl to choose several."),
    )

    def __init__(self, *args: Any, actor: Any, post: DutyPost | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = [("", _("— none —")), *ROLE_CHOICES]  # type: ignore[attr-defined]
        # People read through the scoping mechanism; a disabled account stays listed while it holds the post.
        keep = Q(is_active=True)
        if post is not None:
            keep |= Q(pk__in=post.holders.values("pk"))
            del self.fields["code"]
        people = User.objects.for_user(actor).filter(keep).order_by("display_name", "username")
        self.fields["holders"].queryset = people  # type: ignore[attr-defined]


class DutyItemForm(forms.Form):
    text = forms.CharField(
        label=pgettext_lazy("one duty of a duty list", "Duty"), max_length=300, required=False
    )
    recurrence = forms.ChoiceField(label=_("Recurs"), choices=Recurrence.choices, required=False)
    task = forms.ChoiceField(label=_("Linked task"), choices=DutyItem.Task.choices, required=False)


# Rows are numbered in form order; an emptied text removes the duty; three blank rows to add new ones.
DutyItemFormSet = forms.formset_factory(DutyItemForm, extra=3, max_num=60, validate_max=True)

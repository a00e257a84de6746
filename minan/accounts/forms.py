from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from minan.institutions.models import Institution
from minan.regions.models import Region

from .roles import ROLE_CHOICES


class LoginForm(forms.Form):
    username = forms.CharField(
        label=_("Username"),
        max_length=150,
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "username"}),
    )
    password = forms.CharField(
        label=_("Password"),
        max_length=128,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class SecondFactorForm(forms.Form):
    code = forms.CharField(
        label=_("Verification code"),
        max_length=20,
        help_text=_("The 6-digit code from your authenticator app, or one of your recovery codes."),
        widget=forms.TextInput(
            attrs={"autofocus": True, "autocomplete": "one-time-code", "inputmode": "numeric"}
        ),
    )


class PasswordChangeForm(forms.Form):
    old_password = forms.CharField(
        label=_("Current password"), max_length=128, strip=False, widget=forms.PasswordInput
    )
    new_password1 = forms.CharField(
        label=_("New password"), max_length=128, strip=False, widget=forms.PasswordInput
    )
    new_password2 = forms.CharField(
        label=_("New password again"), max_length=128, strip=False, widget=forms.PasswordInput
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("new_password1") and data.get("new_password1") != data.get("new_password2"):
            self.add_error("new_password2", _("The two new passwords differ."))
        return data


class ScopedChoiceMixin:
    """Choice lists read through the scoping mechanism, like everything else."""

    def limit_to(self, user: Any) -> None:
        fields = self.fields  # type: ignore[attr-defined]
        if "region" in fields:
            fields["region"].queryset = Region.objects.for_user(user)
        if "institution" in fields:
            fields["institution"].queryset = Institution.objects.for_user(user)


class UserEditForm(ScopedChoiceMixin, forms.Form):
    display_name = forms.CharField(label=_("Full name"), max_length=50)
    phone = forms.RegexField(
        label=_("Mobile phone"),
        regex=r"^1[3-9]\d{9}$",
        required=False,
        error_messages={"invalid": _("Enter an 11-digit mainland mobile number.")},
    )
    email = forms.EmailField(label=_("Email"), required=False)
    region = forms.ModelChoiceField(label=_("Home region"), queryset=Region.objects.none())
    institution = forms.ModelChoiceField(
        label=_("Institution"), queryset=Institution.objects.none(), required=False
    )
    expires_at = forms.DateTimeField(
        label=_("Account expires at"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )


class UserCreateForm(UserEditForm):
    username = forms.RegexField(
        label=_("Username"),
        max_length=150,
        regex=r"^[A-Za-z0-9_.@-]{3,150}$",
        error_messages={"invalid": _("Use 3 to 150 letters, digits or _ . @ -.")},
    )
    password = forms.CharField(
        label=_("Initial password"),
        max_length=128,
        strip=False,
        widget=forms.PasswordInput,
        help_text=_("The user must change it at first login."),
    )

    field_order = [
        "username",
        "display_name",
        "phone",
        "email",
        "region",
        "institution",
        "expires_at",
        "password",
    ]


class RoleGrantForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=ROLE_CHOICES)


class ScopeGrantForm(ScopedChoiceMixin, forms.Form):
    region = forms.ModelChoiceField(
        label=_("Region (with everything below it)"), queryset=Region.objects.none(), required=False
    )
    institution = forms.ModelChoiceField(
        label=_("Or one institution"), queryset=Institution.objects.none(), required=False
    )
    kinds = forms.MultipleChoiceField(
        label=_("Only these institution kinds"),
        choices=Institution.Kind.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Leave empty for every kind."),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if bool(data.get("region")) == bool(data.get("institution")):
            raise forms.ValidationError(_("Choose either a region or an institution."))
        return data


class PasswordResetForm(forms.Form):
    password = forms.CharField(
        label=_("Temporary password"), max_length=128, strip=False, widget=forms.PasswordInput
    )


class DisableForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=100)


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        label=_("Token name"),
        max_length=50,
        required=False,
        help_text=_("What the token is for, e.g. the script or system that uses it."),
    )

"""Forms of the notification pages. They validate the shape of the input; the services apply the rules
(`save_preferences`, `save_role_default`, `save_channel`) and do the writing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms
from django.conf import settings
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from minan.regions.models import Region

from . import events
from .models import Channel, Medium

NONE = "none"  # "no message, the inbox only": stored as an empty media list


def event_rows() -> list[tuple[str, str]]:
    """("", every event) and each registered event, as (code, label)."""
    return [("", str(_("Every event"))), *events.choices()]


def field_key(event: str) -> str:
    return event or "*"


class MediaChoiceMixin:
    """Two selects per event: the first medium and the one to try "if that fails".

    `unset` gives, per event code, the label of the "not chosen here" option, or None when the row
    must have a value (a role default once set). The chosen media are read with `chosen_media()`:
    {event: [media in order]}, events left unset omitted; [] means "none, the inbox only"."""

    fields: dict[str, forms.Field]
    cleaned_data: dict[str, Any]

    def add_media_fields(
        self,
        rows: Sequence[tuple[str, str]],
        current: dict[str, list[str]],
        unset: Any,
        attrs: dict[str, str] | None = None,
    ) -> None:
        self.media_rows = list(rows)
        for code, label in rows:
            key = field_key(code)
            unset_label: str | Promise | None = unset(code)
            first: list[tuple[str, str | Promise]] = [] if unset_label is None else [("", unset_label)]
            first += [(Medium.EMAIL, Medium.EMAIL.label), (Medium.SMS, Medium.SMS.label)]
            first.append((NONE, _("none (the inbox only)")))
            then = [
                ("", _("nothing more")),
                (Medium.EMAIL, Medium.EMAIL.label),
                (Medium.SMS, Medium.SMS.label),
            ]
            chosen = current.get(code)
            if chosen is None:
                initial_first, initial_then = "", ""
            elif not chosen:
                initial_first, initial_then = NONE, ""
            else:
                initial_first, initial_then = chosen[0], chosen[1] if len(chosen) > 1 else ""
            self.fields[f"first:{key}"] = forms.ChoiceField(
                label=_("%(event)s: first") % {"event": label},
                choices=first,
                required=False,
                initial=initial_first,
                widget=forms.Select(attrs=attrs),
            )
            self.fields[f"then:{key}"] = forms.ChoiceField(
                label=_("%(event)s: if that fails") % {"event": label},
                choices=then,
                required=False,
                initial=initial_then,
                widget=forms.Select(attrs=attrs),
            )

    def clean_media_pairs(self) -> None:
        for code, _label in self.media_rows:
            key = field_key(code)
            first, then = self.cleaned_data.get(f"first:{key}", ""), self.cleaned_data.get(f"then:{key}", "")
            if then and first in {"", NONE}:
                self.add_error(  # type: ignore[attr-defined]
                    f"then:{key}", _("Choose a first medium before the one to try if it fails.")
                )

    def chosen_media(self) -> dict[str, list[str]]:
        chosen: dict[str, list[str]] = {}
        for code, _label in self.media_rows:
            key = field_key(code)
            first, then = self.cleaned_data.get(f"first:{key}", ""), self.cleaned_data.get(f"then:{key}", "")
            if not first:
                continue
            if first == NONE:
                chosen[code] = []
            else:
                chosen[code] = [first] + ([then] if then and then != first else [])
        return chosen

    def pairs(self) -> list[tuple[str, str, Any, Any]]:
        """(code, label, first field, then field) per row, for the templates."""
        form: Any = self
        return [
            (code, label, form[f"first:{field_key(code)}"], form[f"then:{field_key(code)}"])
            for code, label in self.media_rows
        ]


class PreferencesForm(MediaChoiceMixin, forms.Form):
    language = forms.ChoiceField(label=_("language of messages"), required=False)
    quiet_from = forms.TimeField(
        label=_("quiet from"),
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )
    quiet_until = forms.TimeField(
        label=_("quiet until"),
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )

    def __init__(self, *args: Any, current: dict[str, list[str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["language"].choices = [("", _("the site's language")), *settings.LANGUAGES]  # type: ignore[attr-defined]
        self.add_media_fields(
            event_rows(),
            current,
            lambda code: _("the default for your roles") if code == "" else _("as for every event"),
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        self.clean_media_pairs()
        return cleaned


class RoleDefaultForm(MediaChoiceMixin, forms.Form):
    """One role's row of the role defaults table; its selects belong to the form `form_id`."""

    def __init__(self, *args: Any, role: str, current: dict[str, list[str]], **kwargs: Any) -> None:
        kwargs.setdefault("prefix", role)
        super().__init__(*args, **kwargs)
        self.role = role
        self.form_id = f"role-{role}"
        self.add_media_fields(
            event_rows(),
            current,
            # A default once set can be changed, not removed: the service has no way to remove it.
            lambda code: None if code in current else _("not set"),
            attrs={"form": self.form_id},
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        self.clean_media_pairs()
        return cleaned


class ChannelForm(forms.Form):
    name = forms.CharField(label=_("name"), max_length=60)
    kind = forms.ChoiceField(label=_("kind"), choices=Channel.Kind.choices)
    url = forms.CharField(
        label=_("address"),
        max_length=500,
        help_text=_("The robot's or receiver's address, starting with https://."),
        widget=forms.URLInput,
    )
    region: forms.ModelChoiceField[Region] = forms.ModelChoiceField(
        label=_("place"),
        queryset=Region.objects.none(),
        help_text=_("Group notices of this place and the places under it go to the channel."),
    )
    per_minute = forms.IntegerField(label=_("messages per minute"), min_value=1, max_value=600, initial=20)
    events = forms.MultipleChoiceField(
        label=_("events"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("The events this channel receives as group notices."),
    )
    active = forms.BooleanField(label=_("active"), required=False, initial=True)
    secret = forms.CharField(
        label=_("secret"),
        required=False,
        max_length=500,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    remove_secret = forms.BooleanField(label=_("remove the secret"), required=False)

    def __init__(self, *args: Any, actor: Any, channel: Channel | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field: Any = self.fields["region"]
        field.queryset = Region.objects.for_user(actor).order_by("region_path")
        self.fields["events"].choices = events.choices()  # type: ignore[attr-defined]
        if channel is not None and channel.secret_encrypted:
            self.fields["secret"].help_text = _(
                "A secret is stored. Leave this empty to keep it, or type a new one to replace it."
            )
        else:
            self.fields["secret"].help_text = _(
                "The signing secret of the robot or receiver, if it has one. It is stored encrypted "
                "and never shown again."
            )
            del self.fields["remove_secret"]  # nothing stored to remove

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("remove_secret") and cleaned.get("secret"):
            self.add_error("secret", _("Either type a new secret or remove the stored one, not both."))
        return cleaned

    def secret_value(self) -> str | None:
        """What `save_channel` takes: None keeps the stored secret, "" removes it."""
        if self.cleaned_data.get("remove_secret"):
            return ""
        return self.cleaned_data.get("secret") or None

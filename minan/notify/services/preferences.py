"""Who gets what, how: a person's media for an event (their own choice, their roles' defaults, the
built-in default), their address on a medium, their language and quiet hours; and the writes of those
choices (the person's own preferences, the roles' defaults set by an administrator)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from minan.accounts.models import User
from minan.accounts.roles import ROLE_LABELS
from minan.core.audit.services import record
from minan.core.errors import DomainError, NotPermitted

from .. import events
from ..models import PERSONAL_MEDIA, Channel, Medium, Preference, RoleDefault, Urgency, UserSettings

# Media a person gets when neither they nor an administrator chose any.
DEFAULT_MEDIA: dict[str, list[str]] = {
    Urgency.LOW: [Medium.EMAIL],
    Urgency.NORMAL: [Medium.EMAIL],
    Urgency.URGENT: [Medium.SMS, Medium.EMAIL],
}


# --- who gets what, how ---------------------------------------------------------------------------------------


def _language(user: User) -> str:
    user_settings = getattr(user, "notify_settings", None)
    return (user_settings.language if user_settings else "") or settings.LANGUAGE_CODE


def media_for(
    user: User, event: str, urgency: str, role_defaults: dict[tuple[str, str], list[str]] | None = None
) -> list[str]:
    """The person's media for the event, in escalation order: their own choice for the event, else
    their choice for every event, else their roles' defaults (event, then every event), else the
    built-in default for the urgency. `role_defaults` may be passed preloaded (batch sends)."""
    own = {p.event: p.media for p in user.notify_preferences.all()}
    if event in own:
        return list(own[event])
    if "" in own:
        return list(own[""])
    if role_defaults is None:
        role_defaults = {
            (d.role, d.event): d.media for d in RoleDefault.objects.filter(role__in=user.role_codes)
        }
    for role in sorted(user.role_codes):
        if (role, event) in role_defaults:
            return list(role_defaults[(role, event)])
    for role in sorted(user.role_codes):
        if (role, "") in role_defaults:
            return list(role_defaults[(role, "")])
    return list(DEFAULT_MEDIA.get(urgency, [Medium.EMAIL]))


def sms_channel() -> Channel | None:
    return Channel.objects.filter(kind=Channel.Kind.SMS, active=True).order_by("pk").first()


def _address(user: User, medium: str) -> str:
    if medium == Medium.EMAIL:
        return user.email
    if medium == Medium.SMS:
        return user.phone
    return ""


def _quiet_until(user: User, now: dt.datetime) -> dt.datetime | None:
    """When the person's quiet hours end, if `now` falls inside them."""
    quiet = getattr(user, "notify_settings", None)
    if quiet is None or quiet.quiet_from is None or quiet.quiet_until is None:
        return None
    local = timezone.localtime(now)
    start, end, t = quiet.quiet_from, quiet.quiet_until, local.time()
    inside = start <= t < end if start < end else (t >= start or t < end)
    if not inside:
        return None
    day = local.date() if t < end else local.date() + dt.timedelta(days=1)
    return timezone.make_aware(dt.datetime.combine(day, end))


# --- saving the choices ---------------------------------------------------------------------------------------


def _clean_media(media: Iterable[str]) -> list[str]:
    cleaned: list[str] = []
    for medium in media:
        if medium not in PERSONAL_MEDIA:
            raise DomainError(_("Choose email or SMS."), field="media")
        if medium not in cleaned:
            cleaned.append(medium)
    return cleaned


@transaction.atomic
def save_preferences(
    actor: User,
    *,
    media: dict[str, list[str]],
    language: str = "",
    quiet_from: dt.time | None = None,
    quiet_until: dt.time | None = None,
    request: Any = None,
) -> None:
    """Replace the actor's own preferences: media per event ("" = every event), language, quiet hours."""
    unknown = set(media) - set(events.EVENTS) - {""}
    if unknown:
        raise DomainError(_("Unknown event."), field="media")
    if (quiet_from is None) != (quiet_until is None) or (
        quiet_from is not None and quiet_from == quiet_until
    ):
        raise DomainError(_("Give both ends of the quiet hours, or neither."), field="quiet_from")
    if language and language not in dict(settings.LANGUAGES):
        raise DomainError(_("Unknown language."), field="language")
    cleaned = {event: _clean_media(chosen) for event, chosen in media.items()}
    Preference.objects.filter(user=actor).delete()
    Preference.objects.bulk_create(Preference(user=actor, event=e, media=m) for e, m in cleaned.items())
    UserSettings.objects.update_or_create(
        user=actor, defaults={"language": language, "quiet_from": quiet_from, "quiet_until": quiet_until}
    )
    record("notify.preferences", user=actor, request=request, obj=actor,
           changes={"media": [None, cleaned], "quiet": [None, [str(quiet_from or ""), str(quiet_until or "")]]})  # fmt: skip


@transaction.atomic
def save_role_default(
    actor: User, role: str, event: str, media: list[str] | None, *, request: Any = None
) -> None:
    """Set the default media of a role for an event ("" = every event); `media=None` removes the default."""
    if not actor.has_perm("notify.change_roledefault"):
        raise NotPermitted(_("You do not have permission to do this."))
    if role not in ROLE_LABELS:
        raise DomainError(_("Unknown role."), field="role")
    if event and event not in events.EVENTS:
        raise DomainError(_("Unknown event."), field="event")
    before = RoleDefault.objects.filter(role=role, event=event).values_list("media", flat=True).first()
    cleaned = None if media is None else _clean_media(media)
    if cleaned is None:
        RoleDefault.objects.filter(role=role, event=event).delete()
    else:
        RoleDefault.objects.update_or_create(role=role, event=event, defaults={"media": cleaned})
    record("notify.role_default", user=actor, request=request, object_type="notify.roledefault",
           object_id=f"{role}:{event or '*'}", changes={"media": [before, cleaned]})  # fmt: skip


@transaction.atomic
def save_role_defaults(
    actor: User, role: str, changed: Mapping[str, list[str] | None], *, request: Any = None
) -> None:
    """Set several defaults of one role ({event: media}) at once: all are saved or none."""
    for event, media in changed.items():
        save_role_default(actor, role, event, media, request=request)

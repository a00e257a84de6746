"""The live alarm board: open alarms in scope, fire first, and the device status of the
institutions, refreshed without reload.

The page polls its fragment every second (htmx). The fragment carries a token (`selectors.board_token`,
two aggregate queries); a poll sending the current token gets 204 and nothing is swapped, so an
unchanged board costs a handful of small queries. New unacknowledged fire alarms flash a banner and,
once the user has enabled sound, beep (`minan/firewatch.js`, WebAudio; no audio files).

Acknowledging is a plain POST (works without JavaScript) through `services.acknowledge`.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django.views import View

from minan.core.errors import DomainError, NotPermitted
from minan.core.views import ScopedViewMixin, current_user, deny
from minan.firewatch.models import Alarm

from .. import kinds, selectors, services

POLL_SECONDS = 1


def device_list_url() -> str:
    """The device list page (built elsewhere in the app); a plain path until its route exists."""
    try:
        return reverse("firewatch:device_list")
    except NoReverseMatch:
        return "/firewatch/devices/"


def board_context(request: HttpRequest, token: str | None = None) -> dict[str, Any]:
    user = current_user(request)
    now = timezone.now()
    token = token or selectors.board_token(user, now)
    alarms = list(selectors.open_alarms(user)[: selectors.BOARD_LIMIT])
    rows = [
        {
            "alarm": a,
            "label": kinds.alarm_label(a.kind),
            "state": selectors.state_of(a),
            "state_label": selectors.state_label(a),
            "location": selectors.location(a.device),
            "fire_unack": a.kind == "fire" and a.acknowledged_at is None,
        }
        for a in alarms
    ]
    return {
        "token": token,
        "rows": rows,
        "fire_unack": [a.pk for a in alarms if a.kind == "fire" and a.acknowledged_at is None],
        "devices": selectors.device_status(user, now),
        "device_url": device_list_url(),
        "can_acknowledge": user.has_perm("firewatch.acknowledge_alarm"),
        "can_close": user.has_perm("firewatch.close_alarm"),
        "poll_seconds": POLL_SECONDS,
        "now": now,
        "limit": selectors.BOARD_LIMIT,
    }


class BoardView(ScopedViewMixin, View):
    """The page: the fragment rendered once, then polled."""

    model = Alarm

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, "firewatch/board.html", board_context(request))


class BoardFragmentView(ScopedViewMixin, View):
    """The polled part. `?since=<token>`: 204 while nothing has changed."""

    model = Alarm

    def get(self, request: HttpRequest) -> HttpResponse:
        token = selectors.board_token(current_user(request))
        if request.GET.get("since", "") == token:
            response = HttpResponse(status=204)
        else:
            response = render(request, "firewatch/_board.html", board_context(request, token))
        response["Cache-Control"] = "no-store"
        return response


def back_to(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return default


class AlarmActionView(ScopedViewMixin, View):
    """POST: one action on one alarm in scope, through its `escalation` service. 404 outside the scope,
    403 without the permission (audited); a refusal is shown as a message and changes nothing."""

    model = Alarm
    http_method_names = ["post"]
    action = ""
    done = ""

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        alarm = get_object_or_404(self.get_queryset(), pk=pk)
        try:
            getattr(services, self.action)(current_user(request), alarm, request=request)
        except NotPermitted as exc:
            deny(request, "firewatch.alarm", f"{self.action} {request.path}: {exc.message}")
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _(self.done))
        return redirect(back_to(request, reverse("firewatch:alarm_detail", args=[pk])))


class AcknowledgeView(AlarmActionView):
    """Acknowledge (the escalation stops); from the board or the alarm page."""

    action, done = "acknowledge", gettext_noop("Alarm acknowledged.")


class ClearView(AlarmActionView):
    """Clear by hand (refused while the device still reports the condition); from the alarm page."""

    action, done = "clear", gettext_noop("Alarm cleared.")

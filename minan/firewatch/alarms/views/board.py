"""The live alarm board: open alarms in scope in three sections (unacknowledged, being handled,
restored), each in its order (`selectors.board_alarms`), filtered by severity, state and county, and the
device status of the institutions, refreshed without reload; `?mode=wall` is the duty-room screen.

The page polls its fragment every second (htmx). The fragment carries a token (`selectors.board_token`,
two aggregate queries); a poll sending the current token gets 204 and nothing is swapped, so an
unchanged board costs a handful of small queries. New unacknowledged fire alarms flash a banner and,
once the user has enabled sound, beep (`minan/firewatch.js`, WebAudio; no audio files).

Acknowledging is a plain POST (works without JavaScript) through `services.acknowledge`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
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


def board_row(alarm: Alarm, now: dt.datetime, on_duty: dict[int, list[str]]) -> dict[str, Any]:
    """What a row (a card on phones) shows of one alarm."""
    return {
        "alarm": alarm,
        "label": kinds.alarm_title(alarm.kind),
        "state": selectors.state_of(alarm),
        "state_label": selectors.state_label(alarm),
        "location": selectors.location(alarm.device),
        "summary": kinds.summary(alarm.kind, alarm.detail, alarm.device),
        "age": selectors.age(alarm.first_at, now),
        "fire_unack": alarm.kind == "fire" and alarm.acknowledged_at is None,
        "on_duty": on_duty.get(alarm.institution_id, []),
    }


def board_context(
    request: HttpRequest, token: str | None = None, counties: list[Any] | None = None
) -> dict[str, Any]:
    """The fragment's context: the open alarms in scope, filtered, in the board's order
    (`selectors.board_alarms`) and split into its sections, and the device status. A constant number of
    queries: the token (two aggregates), the rows, the device status, the on-duty staff for a user who
    may not acknowledge, and with filters the county asked for (when the page did not pass the
    counties) and the unacknowledged fire alarms of the whole scope."""
    user = current_user(request)
    now = timezone.now()
    filters = selectors.board_filters(user, request.GET, counties)
    wall = request.GET.get("mode") == "wall"
    token = token or selectors.board_token(user, now)
    alarms = list(selectors.board_alarms(user, filters)[: selectors.BOARD_LIMIT])
    can_acknowledge = user.has_perm("firewatch.acknowledge_alarm")
    on_duty = {} if can_acknowledge else selectors.on_duty_staff({a.institution_id for a in alarms})
    sections: list[dict[str, Any]] = [
        {"key": key, "label": selectors.SECTION_LABELS[key], "rows": []} for key in selectors.SECTIONS
    ]
    for alarm in alarms:
        sections[selectors.SECTIONS.index(selectors.section_of(alarm))]["rows"].append(
            board_row(alarm, now, on_duty)
        )
    params = filters.params()
    board_query = urlencode({**params, "mode": "wall"} if wall else params)
    shown_fires = [a.pk for a in alarms if a.kind == "fire" and a.acknowledged_at is None]
    # A filter never hides a fire alarm: the banner and the sound count those of the whole scope.
    fire_unack = selectors.fire_unacknowledged(user) if params else shown_fires
    return {
        "token": token,
        "filters": filters,
        "sections": [s for s in sections if not filters.state or s["key"] == filters.state],
        "count": len(alarms),
        "fire_unack": fire_unack,
        "fire_hidden": len(set(fire_unack) - set(shown_fires)),
        "devices": selectors.device_status(user, now, filters.county_path),
        "device_url": device_list_url(),
        "can_acknowledge": can_acknowledge,
        "acknowledgers": "、".join(selectors.acknowledging_roles()),
        "can_close": user.has_perm("firewatch.close_alarm"),
        "poll_seconds": POLL_SECONDS,
        "now": now,
        "limit": selectors.BOARD_LIMIT,
        "wall": wall,
        "board_query": board_query,
        "board_url": reverse("firewatch:board") + (f"?{board_query}" if board_query else ""),
        "unfiltered_url": reverse("firewatch:board") + ("?mode=wall" if wall else ""),
        "filter_query": urlencode(params),
    }


class BoardView(ScopedViewMixin, View):
    """The page: the filters and the fragment rendered once, then polled. `?mode=wall`: the duty-room
    screen (值班大屏), the same board full-screen without the navigation."""

    model = Alarm

    def get(self, request: HttpRequest) -> HttpResponse:
        counties = list(selectors.board_counties(current_user(request)))
        context = board_context(request, counties=counties)
        context["counties"] = counties if len(counties) > 1 or context["filters"].county else []
        context["severity_choices"] = Alarm.Severity.choices
        context["state_choices"] = [(key, selectors.SECTION_LABELS[key]) for key in selectors.SECTIONS]
        template = "firewatch/board_wall.html" if context["wall"] else "firewatch/board.html"
        return render(request, template, context)


class BoardFragmentView(ScopedViewMixin, View):
    """The polled part (with the page's filters and mode). `?since=<token>`: 204 while nothing has changed."""

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

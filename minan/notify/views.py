"""Pages of the notifications: the inbox and one's own settings (every signed-in person); channels, role
defaults and the delivery log (system administrators). Every write goes through `notify.services`."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views import View
from django.views.generic import DetailView, ListView, TemplateView
from django.views.generic.detail import SingleObjectMixin

from minan.accounts.roles import ROLE_LABELS
from minan.core.errors import DomainError
from minan.core.forms import add_refusal
from minan.core.limits import parse_int64
from minan.core.masking import mask_phone
from minan.core.views import PermissionPageMixin, ScopedViewMixin, current_user

from . import display, events, selectors, services
from .forms import ChannelForm, PreferencesForm, RoleDefaultForm
from .models import Channel, Delivery, Medium, Notification, Preference, RoleDefault, Urgency, UserSettings


def _safe_link(link: str) -> str:
    """A notification's link, if it is a path on this site (never another site or a script)."""
    return link if link.startswith("/") and not link.startswith("//") and "\\" not in link else ""


def _event_labels() -> dict[str, str]:
    return dict(events.choices())


# --- inbox ------------------------------------------------------------------------------------------------


class InboxView(LoginRequiredMixin, ListView):
    """The signed-in person's own notifications, newest first, 50 a page; filters `unread=1`, `event`.

    Not scoped: an inbox is personal (read with recipient = the signed-in user), not data of a region."""

    scoped: ClassVar[bool] = False
    template_name = "notify/inbox.html"
    paginate_by = 50

    def get_queryset(self) -> Any:
        qs = Notification.objects.filter(recipient=current_user(self.request))
        params = self.request.GET
        if params.get("unread") == "1":
            qs = qs.filter(read_at__isnull=True)
        if params.get("event", "") in events.EVENTS:
            qs = qs.filter(event=params["event"])
        return qs.order_by("-created_at", "-id")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        labels = _event_labels()
        context.update(
            rows=[(n, labels.get(n.event, n.event), _safe_link(n.link)) for n in context["object_list"]],
            event_choices=events.choices(),
            back=_without_page(self.request),
        )
        return context


class MarkReadView(LoginRequiredMixin, View):
    """POST: mark the chosen notifications (`ids`), or all (`all`), of the signed-in person read.

    Not scoped: it changes only the person's own inbox (`services.mark_read` filters by recipient)."""

    scoped: ClassVar[bool] = False
    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> HttpResponse:
        user = current_user(request)
        if request.POST.get("all"):
            count = services.mark_read(user)
        else:
            # parse_int64: an id of 64 bits ("²" is a digit to isdigit(), 20 digits overflow the driver).
            ids = [n for v in request.POST.getlist("ids") if (n := parse_int64(v)) is not None][:500]
            if not ids:
                messages.error(request, _("Choose the notifications to mark read."))
                return redirect(_back_to_inbox(request))
            count = services.mark_read(user, ids)
        messages.success(
            request,
            ngettext("%(n)d notification marked read.", "%(n)d notifications marked read.", count)
            % {"n": count},
        )
        return redirect(_back_to_inbox(request))


def _without_page(request: HttpRequest) -> str:
    """The inbox with the current filters, on its first page (marking read may empty later pages)."""
    query = request.GET.copy()
    query.pop("page", None)
    return request.path + (f"?{query.urlencode()}" if query else "")


def _back_to_inbox(request: HttpRequest) -> str:
    inbox = reverse("notify:inbox")
    back = request.POST.get("next", "")
    allowed = url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()})
    return back if allowed and back.startswith(inbox) else inbox


# --- my settings ----------------------------------------------------------------------------------------


class PreferencesView(LoginRequiredMixin, TemplateView):
    """The signed-in person's own notification settings: media per event in order, language of
    messages, quiet hours. Saved by `services.save_preferences`; a refusal is shown on the form.

    Not scoped: a person's own settings, not data of a region."""

    scoped: ClassVar[bool] = False
    template_name = "notify/preferences.html"

    def _form(self, data: Any = None) -> PreferencesForm:
        user = current_user(self.request)
        current = {p.event: list(p.media) for p in Preference.objects.filter(user=user)}
        own = UserSettings.objects.filter(user=user).first()
        initial = {}
        if own is not None:
            initial = {"language": own.language, "quiet_from": own.quiet_from, "quiet_until": own.quiet_until}
        return PreferencesForm(data, current=current, initial=initial)

    def _render(self, form: PreferencesForm, status: int = 200) -> HttpResponse:
        user = current_user(self.request)
        urgency = {code: Urgency(e.urgency).label for code, e in events.EVENTS.items()}
        context = self.get_context_data(
            form=form,
            rows=[(code, label, first, then, urgency.get(code)) for code, label, first, then in form.pairs()],
            email=user.email,
            phone=mask_phone(user.phone) if user.phone else "",
            sms_available=services.sms_channel() is not None,
        )
        return self.render_to_response(context, status=status)

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render(self._form())

    def post(self, request: HttpRequest) -> HttpResponse:
        form = self._form(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.save_preferences(
                    current_user(request),
                    media=form.chosen_media(),
                    language=data.get("language") or "",
                    quiet_from=data.get("quiet_from"),
                    quiet_until=data.get("quiet_until"),
                    request=request,
                )
            except DomainError as exc:
                add_refusal(form, exc)
            else:
                messages.success(request, _("Your notification settings are saved."))
                return redirect("notify:preferences")
        return self._render(form, status=400)


# --- channels -----------------------------------------------------------------------------------------------


class ChannelListView(ScopedViewMixin, ListView):
    """The channels inside the administrator's scope (read through `Channel.objects.for_user`), with
    the secret masked and never in full."""

    model = Channel
    template_name = "notify/channels.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        channels = list(context["object_list"])
        places = display.region_names({c.region_path for c in channels})
        labels = _event_labels()
        now = timezone.now()
        user = current_user(self.request)
        context.update(
            rows=[
                {
                    "channel": c,
                    "place": places.get(c.region_path, display.region_code(c.region_path)),
                    "events": [labels.get(e, e) for e in c.events or []],
                    "secret": display.secret_masked(c),
                    "paused": c.paused_until if c.paused_until and c.paused_until > now else None,
                }
                for c in channels
            ],
            can_add=user.has_perm("notify.add_channel"),
            can_change=user.has_perm("notify.change_channel"),
            can_role_defaults=user.has_perm("notify.change_roledefault"),
            can_deliveries=user.has_perm("notify.view_delivery"),
        )
        return context


class ChannelFormView(ScopedViewMixin, SingleObjectMixin, View):
    """Create (no pk) or change a channel through `services.save_channel`. The secret field is always
    empty: leaving it empty keeps the stored secret, "remove the secret" deletes it."""

    model = Channel
    template_name = "notify/channel_form.html"

    def target(self) -> Channel | None:
        return self.get_object() if "pk" in self.kwargs else None

    def render_form(self, form: ChannelForm, channel: Channel | None, status: int = 200) -> HttpResponse:
        context = {
            "form": form,
            "object": channel,
            "creating": channel is None,
            "secret_masked": display.secret_masked(channel) if channel else "",
        }
        return render(self.request, self.template_name, context, status=status)

    def get(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        channel = self.target()
        initial = selectors.channel_values(channel) if channel is not None else {}
        return self.render_form(
            ChannelForm(initial=initial, actor=current_user(request), channel=channel), channel
        )

    def post(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        actor = current_user(request)
        channel = self.target()
        form = ChannelForm(request.POST, actor=actor, channel=channel)
        if form.is_valid():
            data = form.cleaned_data
            try:
                saved = services.save_channel(
                    actor, channel, name=data["name"], kind=data["kind"], url=data["url"], region=data["region"],
                    per_minute=data["per_minute"], events_subscribed=list(data["events"]), active=data["active"],
                    secret=form.secret_value(), request=request,
                )  # fmt: skip
            except DomainError as exc:
                add_refusal(form, exc)
            else:
                messages.success(request, _("The channel %(name)s was saved.") % {"name": saved.name})
                return redirect("notify:channels")
        return self.render_form(form, channel, status=400)


class ChannelCreateView(ChannelFormView):
    scope_action = "add"


class ChannelEditView(ChannelFormView):
    scope_action = "change"


class ChannelTestView(ScopedViewMixin, SingleObjectMixin, View):
    """POST: send a test message to a channel now (`services.send_test`) and report how it went."""

    model = Channel
    scope_action = "change"
    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        channel = self.get_object()
        actor = current_user(request)
        if channel.kind == Channel.Kind.SMS and not actor.phone:
            messages.error(request, _("Your account has no mobile phone number to send the test SMS to."))
            return redirect("notify:channels")
        try:
            delivery = services.send_test(actor, channel, request=request)
        except DomainError as exc:
            messages.error(request, exc.message)
            return redirect("notify:channels")
        values = {"name": channel.name, "status": delivery.get_status_display(), "error": delivery.last_error}
        if delivery.status == Delivery.Status.DELIVERED:
            messages.success(request, _("Test message to %(name)s: %(status)s.") % values)
        elif delivery.last_error:
            messages.error(request, _("Test message to %(name)s: %(status)s (%(error)s).") % values)
        else:
            messages.error(request, _("Test message to %(name)s: %(status)s.") % values)
        return redirect("notify:channels")


# --- role defaults ----------------------------------------------------------------------------------------


class RoleDefaultsView(PermissionPageMixin, TemplateView):
    """Administrators' default media per role and event, one form per role (`services.save_role_defaults`).

    Not scoped: role defaults are configuration of the whole deployment, not rows of a region."""

    template_name = "notify/role_defaults.html"
    permission: ClassVar[str] = "notify.change_roledefault"
    object_type: ClassVar[str] = "notify.roledefault"

    @staticmethod
    def _current() -> dict[str, dict[str, list[str]]]:
        current: dict[str, dict[str, list[str]]] = {}
        for row in RoleDefault.objects.all():
            current.setdefault(row.role, {})[row.event] = list(row.media)
        return current

    def _render(self, bound: RoleDefaultForm | None = None, status: int = 200) -> HttpResponse:
        current = self._current()
        forms = [
            bound if bound is not None and bound.role == role else RoleDefaultForm(role=role, current=current.get(role, {}))
            for role in ROLE_LABELS
        ]  # fmt: skip
        context = self.get_context_data(
            rows=[(str(ROLE_LABELS[f.role]), f) for f in forms], columns=forms[0].media_rows if forms else []
        )
        return self.render_to_response(context, status=status)

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render()

    def post(self, request: HttpRequest) -> HttpResponse:
        role = request.POST.get("role", "")
        if role not in ROLE_LABELS:
            messages.error(request, _("Unknown role."))
            return redirect("notify:role_defaults")
        current = self._current().get(role, {})
        form = RoleDefaultForm(request.POST, role=role, current=current)
        if form.is_valid():
            changed = {e: m for e, m in form.chosen_media().items() if current.get(e) != m}
            try:
                # The row is saved whole or not at all.
                services.save_role_defaults(current_user(request), role, changed, request=request)
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(
                    request, _("The defaults of %(role)s were saved.") % {"role": ROLE_LABELS[role]}
                )
                return redirect(reverse("notify:role_defaults") + f"#role-{role}")
        return self._render(form, status=400)


# --- delivery log ---------------------------------------------------------------------------------------


class DeliveryAccessMixin(PermissionPageMixin):
    """Not scoped: a delivery belongs to a message and a medium, not to a region; the delivery log is
    for holders of `notify.view_delivery` (system administrators). Addresses are masked."""

    permission: ClassVar[str] = "notify.view_delivery"
    object_type: ClassVar[str] = "notify.delivery"


class DeliveryListView(DeliveryAccessMixin, ListView):
    """Deliveries newest first, 50 a page; filters `status`, `medium`, `channel`, `event`. The inbox
    message about a final failure links to `?status=failed`."""

    template_name = "notify/deliveries.html"
    paginate_by = 50

    def get_queryset(self) -> Any:
        qs = Delivery.objects.select_related("channel").defer("body", "channel__secret_encrypted")
        return selectors.filter_deliveries(qs, self.request.GET)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        labels = _event_labels()
        context.update(
            rows=[(d, display.destination(d), labels.get(d.event, d.event)) for d in context["object_list"]],
            status_choices=Delivery.Status.choices,
            medium_choices=Medium.choices,
            channel_choices=list(
                Channel.objects.for_user(current_user(self.request))
                .order_by("name")
                .values_list("pk", "name")
            ),
            event_choices=events.choices(),
        )
        return context


class DeliveryDetailView(DeliveryAccessMixin, DetailView):
    """One delivery with every attempt (time, outcome, status code, error, latency)."""

    template_name = "notify/delivery.html"
    context_object_name = "delivery"

    def get_queryset(self) -> Any:
        return Delivery.objects.select_related("channel")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        delivery: Delivery = context["delivery"]
        context.update(
            destination=display.destination(delivery),
            event_label=_event_labels().get(delivery.event, delivery.event),
            attempts=delivery.attempt_log.order_by("at", "id"),
            escalation=[Medium(m).label if m in Medium.values else m for m in delivery.escalation or []],
            parts=delivery.parts.count(),
        )
        return context

from __future__ import annotations

import base64
import time
from typing import Any

import segno
from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, login, update_session_auth_hash
from django.contrib.auth.mixins import LoginRequiredMixin
from django.contrib.auth.signals import user_login_failed
from django.contrib.auth.views import LogoutView as DjangoLogoutView
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import DetailView, ListView
from django.views.generic.detail import SingleObjectMixin
from django_otp import login as otp_login

from minan.core.errors import DomainError, OutOfScope
from minan.core.export import xlsx_response
from minan.core.forms import add_refusal
from minan.core.masking import mask_phone
from minan.core.views import ScopedActionView, ScopedViewMixin, current_user
from minan.institutions.models import Institution

from . import services
from .forms import (
    ApiTokenForm,
    DisableForm,
    LoginForm,
    PasswordChangeForm,
    PasswordResetForm,
    RoleGrantForm,
    ScopeGrantForm,
    SecondFactorForm,
    UserCreateForm,
    UserEditForm,
)
from .models import ApiToken, User, UserScope
from .roles import ROLE_CHOICES, ROLE_LABELS

PENDING_KEY = "minan_pending_login"
PENDING_SECONDS = 300


def _safe_next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, {request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("core:home")


def lockout_response(
    request: HttpRequest, response: HttpResponse | None = None, credentials: Any = None
) -> HttpResponse:
    """What a locked-out account or address sees (django-axes calls this)."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    message = _(
        "Too many failed attempts. Sign-in is locked for %(minutes)d minutes for this account and this address."
    ) % {"minutes": minutes}
    request.session.pop(PENDING_KEY, None)
    if request.path.startswith("/api/"):
        return JsonResponse({"code": "locked", "detail": message}, status=403)
    return render(
        request, "accounts/login.html", {"form": LoginForm(), "locked_message": message}, status=403
    )


class LoginView(View):
    """Step one: username and password. Step two (SecondFactorView) follows when TOTP is on."""

    scoped = False  # public page

    def get(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            return redirect(_safe_next(request))
        return render(
            request, "accounts/login.html", {"form": LoginForm(), "next": request.GET.get("next", "")}
        )

    def post(self, request: HttpRequest) -> HttpResponse:
        form = LoginForm(request.POST)
        context = {"form": form, "next": request.POST.get("next", "")}
        if not form.is_valid():
            return render(request, "accounts/login.html", context, status=400)
        user = authenticate(
            request, username=form.cleaned_data["username"], password=form.cleaned_data["password"]
        )
        if user is None:
            form.add_error(None, _("Wrong username or password, or the account is disabled."))
            return render(request, "accounts/login.html", context, status=400)
        if user.needs_second_factor or services.totp_device(user) is not None:
            request.session.cycle_key()
            request.session[PENDING_KEY] = {
                "id": user.pk,
                "backend": user.backend,
                "at": time.time(),
                "next": _safe_next(request),
            }
            return redirect("accounts:login_verify")
        login(request, user)
        return redirect(_safe_next(request))


class SecondFactorView(View):
    """Step two: a TOTP or recovery code; administrators without a device enrol here first."""

    scoped = False  # public page (half-signed-in)

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        pending = request.session.get(PENDING_KEY)
        if not pending or time.time() - pending["at"] > PENDING_SECONDS:
            request.session.pop(PENDING_KEY, None)
            messages.error(request, _("Sign in again: the verification step timed out."))
            return redirect("accounts:login")
        user = User.objects.filter(pk=pending["id"], is_active=True).first()
        if user is None:
            request.session.pop(PENDING_KEY, None)
            return redirect("accounts:login")
        self.pending, self.user = pending, user
        return super().dispatch(request, *args, **kwargs)

    def _context(self, form: SecondFactorForm) -> dict[str, Any]:
        context: dict[str, Any] = {"form": form, "pending_user": self.user}
        if services.totp_device(self.user) is None:
            device = services.totp_device(self.user, confirmed=False) or services.start_totp_enrolment(
                self.user, request=self.request
            )
            context.update(enrolment_context(device))
        return context

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, "accounts/login_verify.html", self._context(SecondFactorForm()))

    def post(self, request: HttpRequest) -> HttpResponse:
        form = SecondFactorForm(request.POST)
        credentials = {"username": self.user.username}
        if not AxesProxyHandler.is_allowed(request, credentials):
            return lockout_response(request)
        if not form.is_valid():
            return render(request, "accounts/login_verify.html", self._context(form), status=400)
        code = form.cleaned_data["code"]
        recovery_codes: list[str] = []
        if services.totp_device(self.user) is None:
            device = services.totp_device(self.user, confirmed=False)
            try:
                assert device is not None
                recovery_codes = services.confirm_totp(self.user, device, code, request=request)
            except (DomainError, AssertionError):
                device = None
        else:
            device = services.verify_second_factor(self.user, code)
        if device is None:
            user_login_failed.send(sender=__name__, credentials=credentials, request=request)
            form.add_error("code", _("The code is wrong or expired."))
            return render(request, "accounts/login_verify.html", self._context(form), status=400)
        self.user.backend = self.pending["backend"]
        request.session.pop(PENDING_KEY, None)
        login(request, self.user)
        otp_login(request, device)
        if recovery_codes:
            return render(
                request,
                "accounts/recovery_codes.html",
                {"codes": recovery_codes, "next": self.pending["next"]},
            )
        return redirect(self.pending["next"])


def enrolment_context(device: Any) -> dict[str, Any]:
    uri = device.config_url
    return {
        "enrolment": True,
        "otpauth_uri": uri,
        "secret": base64.b32encode(device.bin_key).decode(),
        "qr_svg": segno.make(uri, error="m").svg_inline(scale=4),
    }


class LogoutView(DjangoLogoutView):
    scoped = False  # acts on the signed-in user only


class PasswordChangeView(LoginRequiredMixin, View):
    scoped = False  # acts on the signed-in user only

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, "accounts/password_change.html", {"form": PasswordChangeForm()})

    def post(self, request: HttpRequest) -> HttpResponse:
        form = PasswordChangeForm(request.POST)
        if form.is_valid():
            try:
                services.change_password(
                    current_user(request),
                    form.cleaned_data["old_password"],
                    form.cleaned_data["new_password1"],
                    request=request,
                )
            except DomainError as exc:
                form.add_error("new_password1" if exc.field == "password" else exc.field, exc.message)
            else:
                update_session_auth_hash(request, current_user(request))
                messages.success(request, _("Your password has been changed."))
                return redirect("core:home")
        return render(request, "accounts/password_change.html", {"form": form}, status=400)


class SecuritySettingsView(LoginRequiredMixin, View):
    """The signed-in user's second factor: enrol, re-enrol, new recovery codes."""

    scoped = False  # acts on the signed-in user only

    def get(self, request: HttpRequest) -> HttpResponse:
        device = services.totp_device(current_user(request))
        context: dict[str, Any] = {"device": device, "form": SecondFactorForm()}
        if request.GET.get("enrol") or device is None:
            pending = services.totp_device(
                current_user(request), confirmed=False
            ) or services.start_totp_enrolment(current_user(request), request=request)
            context.update(enrolment_context(pending))
        return render(request, "accounts/security.html", context)

    def post(self, request: HttpRequest) -> HttpResponse:
        if request.POST.get("action") == "recovery":
            if services.totp_device(current_user(request)) is None:
                messages.error(request, _("Set up the authenticator app first."))
                return redirect("accounts:security")
            codes = services.regenerate_recovery_codes(current_user(request), request=request)
            return render(
                request,
                "accounts/recovery_codes.html",
                {"codes": codes, "next": reverse("accounts:security")},
            )
        form = SecondFactorForm(request.POST)
        pending = services.totp_device(current_user(request), confirmed=False)
        if form.is_valid() and pending is not None:
            try:
                codes = services.confirm_totp(
                    current_user(request), pending, form.cleaned_data["code"], request=request
                )
            except DomainError as exc:
                form.add_error("code", exc.message)
            else:
                otp_login(request, pending)
                return render(
                    request,
                    "accounts/recovery_codes.html",
                    {"codes": codes, "next": reverse("accounts:security")},
                )
        context: dict[str, Any] = {"device": services.totp_device(current_user(request)), "form": form}
        if pending is not None:
            context.update(enrolment_context(pending))
        return render(request, "accounts/security.html", context, status=400)


# --- user directory ---------------------------------------------------------------------------------


def _filtered_users(qs: Any, params: Any) -> Any:
    qs = qs.select_related("region", "institution").prefetch_related("role_grants")
    if q := params.get("q", "").strip()[:50]:
        qs = qs.filter(Q(username__icontains=q) | Q(display_name__icontains=q))
    if (role := params.get("role")) in ROLE_LABELS:
        qs = qs.filter(role_grants__role=role)
    if (region := params.get("region", "").strip()) and region.isdigit():
        qs = qs.filter(region_path__contains=f"{region}/")
    if params.get("active") in {"0", "1"}:
        qs = qs.filter(is_active=params["active"] == "1")
    return qs.distinct()


class UserListView(ScopedViewMixin, ListView):
    model = User
    paginate_by = 50
    template_name = "accounts/user_list.html"

    def get_queryset(self) -> Any:
        return _filtered_users(super().get_queryset(), self.request.GET)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["role_choices"] = ROLE_CHOICES
        context["query"] = self.request.GET.urlencode()
        return context


class UserExportView(ScopedViewMixin, ListView):
    model = User
    scope_action = "export"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        rows = [
            [
                u.username,
                u.display_name,
                mask_phone(u.phone) if u.phone else "",
                u.region.name,
                u.institution.name if u.institution else "",
                "、".join(str(ROLE_LABELS[g.role]) for g in u.role_grants.all() if g.role in ROLE_LABELS),
                _("Active") if u.is_active else _("Disabled"),
            ]
            for u in _filtered_users(self.get_queryset(), request.GET)
        ]
        headers = [
            _("Username"),
            _("Name"),
            _("Mobile phone"),
            _("Home region"),
            _("Institution"),
            _("Roles"),
            _("Status"),
        ]
        return xlsx_response(request, "users", _("Users"), headers, rows, model=User)


class UserDetailView(ScopedViewMixin, DetailView):
    model = User
    template_name = "accounts/user_detail.html"
    context_object_name = "target"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        user = current_user(self.request)
        target = self.object
        # Management controls only for someone who may manage this account (services.may_manage).
        manage = services.may_manage(user, target)
        scope_form = ScopeGrantForm()
        scope_form.limit_to(user)
        held = set(target.role_grants.values_list("role", flat=True))
        scopes = list(target.scopes.select_related("region", "institution"))
        # The target's access may reach beyond the viewer's: such institutions are not named.
        visible = set(
            Institution.objects.for_user(user)
            .filter(pk__in=[s.institution_id for s in scopes if s.institution_id])
            .values_list("pk", flat=True)
        )
        for entry in scopes:
            entry.hidden = entry.institution_id is not None and entry.institution_id not in visible
        context.update(
            roles=[
                (code, ROLE_LABELS[code], manage and services.can_grant_role(user, code))
                for code in sorted(held)
                if code in ROLE_LABELS
            ],
            grantable=[
                (c, label)
                for c, label in ROLE_CHOICES
                if manage and c not in held and services.can_grant_role(user, c)
            ],
            scopes=scopes,
            scope_form=scope_form,
            can_grant=manage and user.has_perm("accounts.grant_role"),
            can_change=manage and user.has_perm("accounts.change_user"),
            can_unlock=manage and user.has_perm("accounts.unlock_user"),
            phone_masked=mask_phone(target.phone) if target.phone else "",
        )
        if manage and user.has_perm("accounts.view_apitoken"):
            context["tokens"] = services.visible_tokens(user).filter(user=target, revoked_at__isnull=True)
        return context


class ManagedUserMixin:
    """Management pages and actions: a user the actor may not manage (services.may_manage) is a 404."""

    def get_object(self, queryset: Any = None) -> Any:
        target = super().get_object(queryset)  # type: ignore[misc]
        if not services.may_manage(current_user(self.request), target):  # type: ignore[attr-defined]
            raise Http404
        return target


class UserCreateView(ScopedViewMixin, View):
    model = User
    scope_action = "add"

    def get(self, request: HttpRequest) -> HttpResponse:
        form = UserCreateForm()
        form.limit_to(current_user(request))
        return render(request, "accounts/user_form.html", {"form": form, "creating": True})

    def post(self, request: HttpRequest) -> HttpResponse:
        form = UserCreateForm(request.POST)
        form.limit_to(current_user(request))
        if form.is_valid():
            try:
                target = services.create_user(current_user(request), request=request, **form.cleaned_data)
            except DomainError as exc:
                add_refusal(form, exc)
            else:
                messages.success(request, _("The account %(name)s was created.") % {"name": target.username})
                return redirect("accounts:user_detail", pk=target.pk)
        return render(request, "accounts/user_form.html", {"form": form, "creating": True}, status=400)


class UserEditView(ManagedUserMixin, ScopedViewMixin, SingleObjectMixin, View):
    model = User
    scope_action = "change"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        target = self.get_object()
        form = UserEditForm(initial={f: getattr(target, f) for f in UserEditForm.base_fields})
        form.limit_to(current_user(request))
        return render(request, "accounts/user_form.html", {"form": form, "target": target})

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        target = self.get_object()
        form = UserEditForm(request.POST)
        form.limit_to(current_user(request))
        if form.is_valid():
            try:
                services.update_user(current_user(request), target, request=request, **form.cleaned_data)
            except OutOfScope:
                form.add_error(None, _("The chosen place is outside your scope."))
            except DomainError as exc:
                add_refusal(form, exc)
            else:
                messages.success(request, _("Saved."))
                return redirect("accounts:user_detail", pk=target.pk)
        return render(request, "accounts/user_form.html", {"form": form, "target": target}, status=400)


class UserActionView(ManagedUserMixin, ScopedActionView):
    """POST-only actions on one user from its detail page; each calls one service."""

    model = User

    def success_url(self, target: Any, action: str) -> str:
        return reverse("accounts:user_detail", args=[target.pk])

    def perform(self, action: str, arg: str, target: Any, actor: Any) -> None:
        request = self.request
        if action == "grant-role":
            form = RoleGrantForm(request.POST)
            if not form.is_valid():
                raise DomainError(_("Choose a role."))
            services.grant_role(actor, target, form.cleaned_data["role"], request=request)
        elif action == "revoke-role":
            services.revoke_role(actor, target, arg, request=request)
        elif action == "add-scope":
            scope_form = ScopeGrantForm(request.POST)
            scope_form.limit_to(actor)
            if not scope_form.is_valid():
                raise DomainError(" ".join(str(m) for ms in scope_form.errors.values() for m in ms))
            services.add_scope(actor, target, request=request, **scope_form.cleaned_data)
        elif action == "remove-scope":
            entry = UserScope.objects.filter(pk=arg, user=target).first() if arg.isdigit() else None
            if entry is None:
                raise DomainError(_("That scope entry does not exist."))
            services.remove_scope(actor, entry, request=request)
        elif action == "disable":
            disable_form = DisableForm(request.POST)
            if not disable_form.is_valid():
                raise DomainError(_("Give a reason."))
            services.set_active(
                actor, target, False, reason=disable_form.cleaned_data["reason"], request=request
            )
        elif action == "enable":
            services.set_active(actor, target, True, request=request)
        elif action == "unlock":
            services.unlock_user(actor, target, request=request)
        elif action == "reset-totp":
            services.reset_totp(actor, target, request=request)
        elif action == "reset-password":
            reset_form = PasswordResetForm(request.POST)
            if not reset_form.is_valid():
                raise DomainError(_("Enter a temporary password."))
            services.reset_password(actor, target, reset_form.cleaned_data["password"], request=request)
        elif action == "revoke-token":
            token = (
                services.visible_tokens(actor).filter(pk=arg, user=target).first() if arg.isdigit() else None
            )
            if token is None:
                raise DomainError(_("That token does not exist."))
            services.revoke_token(actor, token, request=request)
        else:
            raise DomainError(_("Unknown action."))


class ApiTokenListView(LoginRequiredMixin, View):
    """我的 API 令牌: the signed-in user's tokens; issue one (the secret is shown once) or revoke one."""

    scoped = False  # the signed-in user's own tokens only

    def _render(
        self, request: HttpRequest, form: ApiTokenForm, status: int = 200, **extra: Any
    ) -> HttpResponse:
        tokens = ApiToken.objects.filter(user=current_user(request)).select_related("revoked_by")
        context = {"form": form, "tokens": tokens, "token_days": settings.API_TOKEN_DAYS, **extra}
        return render(request, "accounts/api_tokens.html", context, status=status)

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render(request, ApiTokenForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        user = current_user(request)
        if request.POST.get("action") == "revoke":
            token_id = request.POST.get("token", "")
            token = ApiToken.objects.filter(pk=token_id, user=user).first() if token_id.isdigit() else None
            if token is None:
                raise Http404
            try:
                services.revoke_token(user, token, request=request)
            except DomainError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, _("The token was revoked."))
            return redirect("accounts:api_tokens")
        form = ApiTokenForm(request.POST)
        if not form.is_valid():
            return self._render(request, form, status=400)
        try:
            token, secret = services.issue_token(user, name=form.cleaned_data["name"], request=request)
        except DomainError as exc:
            form.add_error(None, exc.message)
            return self._render(request, form, status=400)
        return self._render(request, ApiTokenForm(), new_token=token, secret=secret)

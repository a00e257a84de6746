from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone


class AccountPolicyMiddleware:
    """Keeps a signed-in user inside the login policy on every request.

    - an account disabled or expired since login is signed out;
    - an administrator without a verified second factor is signed out (cannot happen through the
      login page, which requires it; guards sessions made any other way);
    - a user who must change the password (first login, reset, expiry) reaches only that page.
    """

    ALLOWED_PREFIXES = ("/accounts/password/", "/accounts/logout/", "/i18n/", "/static/", "/accounts/totp/")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if user.is_authenticated and request.session.session_key is not None:
            if not user.is_active or user.is_expired():
                logout(request)
                return redirect(settings.LOGIN_URL)
            if user.needs_second_factor and not user.is_verified():  # type: ignore[attr-defined]
                logout(request)
                return redirect(settings.LOGIN_URL)
            if self._must_change_password(user) and not request.path.startswith(self.ALLOWED_PREFIXES):
                if request.path.startswith("/api/"):
                    return JsonResponse(
                        {"code": "password_change_required", "detail": "Change your password first."},
                        status=403,
                    )
                return redirect(reverse("accounts:password_change"))
        return self.get_response(request)

    @staticmethod
    def _must_change_password(user) -> bool:
        if user.must_change_password:
            return True
        max_age = settings.PASSWORD_MAX_AGE_DAYS
        changed = user.password_changed_at
        return bool(max_age and changed and changed < timezone.now() - timedelta(days=max_age))

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse


class DefaultLanguageMiddleware:
    """Chinese unless the user chose otherwise with the language switch (cookie).

    Browsers in bureaus often send `Accept-Language: en-US`; it must not turn the UI into English.
    Runs before LocaleMiddleware, which then sees only the cookie and LANGUAGE_CODE.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.META.pop("HTTP_ACCEPT_LANGUAGE", None)
        return self.get_response(request)

from collections.abc import Callable

from csp.middleware import CSPMiddleware
from django.http import HttpRequest, HttpResponse, HttpResponseBase


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


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's Content-Security-Policy on every response but PDFs (docs/security.md).

    Chromium shows a PDF in a built-in viewer page that takes the PDF response's policy: object-src
    'none' and style-src 'self' leave it blank (crbug.com/271452), and the hazard notices and
    inspection reports open inline. The policy protects HTML, which a PDF response is not.
    """

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if response.get("Content-Type", "").split(";")[0].strip().lower() == "application/pdf":
            return response
        return super().process_response(request, response)

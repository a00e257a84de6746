"""The project's URLs plus views that fail on purpose, for the error-page tests."""

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import path

from minan.urls import urlpatterns as project_urlpatterns


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("forced failure SECRET-DETAIL-7731")


def forbidden(request: HttpRequest) -> HttpResponse:
    raise PermissionDenied


urlpatterns = [
    path("__test__/boom/", boom),
    path("__test__/forbidden/", forbidden),
    *project_urlpatterns,
]

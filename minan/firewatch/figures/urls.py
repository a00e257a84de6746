"""The fire-monitoring statistics page."""

from __future__ import annotations

from django.urls import URLPattern, path

from .views import FirewatchFiguresView

urlpatterns: list[URLPattern] = [path("figures/", FirewatchFiguresView.as_view(), name="figures")]

"""The firewatch pages; each sub-package keeps its own routes (its `urls.py`)."""

from __future__ import annotations

from django.urls import URLResolver, include, path

app_name = "firewatch"
urlpatterns: list[URLResolver] = [
    path("", include("minan.firewatch.alarms.urls")),
    path("", include("minan.firewatch.figures.urls")),
    path("", include("minan.firewatch.devices.urls")),
]

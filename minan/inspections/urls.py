"""Each part of the inspections app keeps its own routes (its urls.py); they share the `inspections`
namespace, so every URL name reads `inspections:<name>`. The order is the order of matching."""

from __future__ import annotations

from django.urls import URLResolver, include, path

app_name = "inspections"
urlpatterns: list[URLResolver] = [
    path("", include("minan.inspections.figures.urls")),
    path("", include("minan.inspections.execution.urls")),
    path("", include("minan.inspections.plans.urls")),
    path("", include("minan.inspections.checklists.urls")),
    path("", include("minan.inspections.experts.urls")),
]

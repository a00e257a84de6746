"""Each part of the inspections app keeps its own routes (its urls.py); they share the `inspections`
namespace, so every URL name reads `inspections:<name>`."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path

from . import plan_views

app_name = "inspections"
urlpatterns: list[URLPattern | URLResolver] = []
urlpatterns += [path("", include("minan.inspections.figures.urls"))]
urlpatterns += [path("", include("minan.inspections.execution.urls"))]
urlpatterns += plan_views.urls
urlpatterns += [path("", include("minan.inspections.checklists.urls"))]
urlpatterns += [path("", include("minan.inspections.experts.urls"))]

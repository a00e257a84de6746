"""Each part of the inspections app keeps its own routes (its urls.py); they share the `inspections`
namespace, so every URL name reads `inspections:<name>`."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path

from . import expert_views, figure_views, plan_views, views

app_name = "inspections"
urlpatterns: list[URLPattern | URLResolver] = []
urlpatterns += figure_views.urls
urlpatterns += views.urls
urlpatterns += plan_views.urls
urlpatterns += [path("", include("minan.inspections.checklists.urls"))]
urlpatterns += expert_views.urls

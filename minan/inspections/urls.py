"""Each part of the inspections app keeps its own routes (a `urls` list in its views module)."""

from __future__ import annotations

from django.urls import URLPattern

from . import checklist_views, expert_views, figure_views, plan_views, views

app_name = "inspections"
urlpatterns: list[URLPattern] = []
urlpatterns += figure_views.urls
urlpatterns += views.urls
urlpatterns += plan_views.urls
urlpatterns += checklist_views.urls
urlpatterns += expert_views.urls

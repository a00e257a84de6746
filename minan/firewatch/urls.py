"""Each part of the firewatch app keeps its own routes (a `urls` list in its views module)."""

from __future__ import annotations

from django.urls import URLPattern

from . import alarm_views, board_views, chain_views, device_views, figure_views

app_name = "firewatch"
urlpatterns: list[URLPattern] = []
urlpatterns += board_views.urls
urlpatterns += alarm_views.urls
urlpatterns += figure_views.urls
urlpatterns += chain_views.urls
urlpatterns += device_views.urls

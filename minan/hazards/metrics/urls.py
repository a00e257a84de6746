"""The hazard figures page, included by `hazards.urls` (namespace `hazards`)."""

from django.urls import path

from . import views

urlpatterns = [
    path("metrics/", views.HazardMetricsView.as_view(), name="metrics"),
]

"""Routes of the inspection figures page and its export (included by the app's urls.py under the `inspections` namespace)."""

from __future__ import annotations

from django.urls import path

from .views import (
    InspectionFiguresExportView,
    InspectionFiguresView,
)

urlpatterns = [
    path("figures/", InspectionFiguresView.as_view(), name="figures"),
    path("figures/export/", InspectionFiguresExportView.as_view(), name="figures_export"),
]

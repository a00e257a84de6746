"""Routes of the inspection pages (included by the app's urls.py under the `inspections` namespace)."""

from __future__ import annotations

from django.urls import path

from .views import (
    InspectionAnswerView,
    InspectionCancelView,
    InspectionDetailView,
    InspectionFileView,
    InspectionListView,
    InspectionPhotoView,
    InspectionReportView,
    InspectionRunView,
    InspectionSignatureView,
    InspectionStartView,
    InspectionSubmitView,
)

urlpatterns = [
    path("", InspectionListView.as_view(), name="inspection_list"),
    path("start/", InspectionStartView.as_view(), name="inspection_start"),
    path("<int:pk>/", InspectionDetailView.as_view(), name="inspection_detail"),
    path("<int:pk>/run/", InspectionRunView.as_view(), name="inspection_run"),
    path("<int:pk>/items/<int:item>/answer/", InspectionAnswerView.as_view(), name="inspection_answer"),
    path("<int:pk>/items/<int:item>/photos/", InspectionPhotoView.as_view(), name="inspection_photo"),
    path("<int:pk>/submit/", InspectionSubmitView.as_view(), name="inspection_submit"),
    path("<int:pk>/cancel/", InspectionCancelView.as_view(), name="inspection_cancel"),
    path("<int:pk>/report.pdf", InspectionReportView.as_view(), name="inspection_report"),
    path("<int:pk>/signature/<str:who>/", InspectionSignatureView.as_view(), name="inspection_signature"),
    path("photos/<int:pk>/", InspectionFileView.as_view(), name="inspection_file"),
]

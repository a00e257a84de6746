"""Routes of the expert roster pages (included by the app's urls.py under the `inspections` namespace)."""

from __future__ import annotations

from django.urls import path

from .views import (
    ExpertFormView,
    ExpertListView,
)

urlpatterns = [
    path("experts/", ExpertListView.as_view(), name="expert_list"),
    path("experts/new/", ExpertFormView.as_view(), name="expert_new"),
    path("experts/<int:pk>/", ExpertFormView.as_view(), name="expert_edit"),
]

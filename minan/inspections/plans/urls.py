"""Routes of the plan and task pages (included by the app's urls.py under the `inspections` namespace)."""

from __future__ import annotations

from django.urls import path

from .views import (
    PlanActionView,
    PlanCreateView,
    PlanDetailView,
    PlanEditView,
    PlanListView,
    TaskAssignView,
    TaskDetailView,
    TaskListView,
)

urlpatterns = [
    path("plans/", PlanListView.as_view(), name="plan_list"),
    path("plans/new/", PlanCreateView.as_view(), name="plan_new"),
    path("plans/<int:pk>/", PlanDetailView.as_view(), name="plan_detail"),
    path("plans/<int:pk>/edit/", PlanEditView.as_view(), name="plan_edit"),
    path("plans/<int:pk>/generate/", PlanActionView.as_view(action="generate"), name="plan_generate"),
    path("plans/<int:pk>/stop/", PlanActionView.as_view(action="deactivate"), name="plan_deactivate"),
    path("tasks/", TaskListView.as_view(), name="task_list"),
    path("tasks/mine/", TaskListView.as_view(mine=True), name="task_mine"),
    path("tasks/<int:pk>/", TaskDetailView.as_view(), name="task_detail"),
    path("tasks/<int:pk>/assign/", TaskAssignView.as_view(), name="task_assign"),
]

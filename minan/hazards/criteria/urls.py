"""Pages of the criteria catalogue, included by `hazards.urls` (namespace `hazards`)."""

from django.urls import path

from . import views

urlpatterns = [
    path("criteria/", views.CriteriaView.as_view(), name="criteria"),
    path("criteria/new/", views.CriteriaSetFormView.as_view(), name="criteria_set_new"),
    path("criteria/<int:pk>/edit/", views.CriteriaSetFormView.as_view(), name="criteria_set_edit"),
    path("criteria/<int:pk>/clauses/new/", views.ClauseCreateView.as_view(), name="criteria_clause_new"),
    path("criteria/clauses/<int:pk>/edit/", views.ClauseFormView.as_view(), name="criteria_clause_edit"),
    path(
        "criteria/clauses/<int:pk>/delete/", views.ClauseDeleteView.as_view(), name="criteria_clause_delete"
    ),
]

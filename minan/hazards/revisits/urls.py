"""The 回头看 page, included by `hazards.urls` (namespace `hazards`)."""

from django.urls import path

from . import views

urlpatterns = [
    path("revisits/", views.RevisitListView.as_view(), name="revisits"),
]

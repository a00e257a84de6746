from django.urls import path

from . import views

app_name = "duty"
urlpatterns = [
    path("", views.CoverageView.as_view(), name="coverage"),
]

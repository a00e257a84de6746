from django.urls import include, path

from . import views
from .criteria import urls as criteria_urls
from .metrics import urls as metrics_urls
from .revisits import urls as revisits_urls

app_name = "hazards"
urlpatterns = [
    path("", views.HazardListView.as_view(), name="list"),
    path("export/", views.HazardExportView.as_view(), name="export"),
    path("new/", views.HazardCreateView.as_view(), name="new"),
    path("major/", views.MajorBoardView.as_view(), name="major"),
    path("", include(metrics_urls)),
    path("", include(revisits_urls)),
    path("", include(criteria_urls)),
    path("<int:pk>/", views.HazardDetailView.as_view(), name="detail"),
    path("<int:pk>/transition/", views.HazardTransitionView.as_view(), name="transition"),
    path("<int:pk>/plan/", views.HazardPlanView.as_view(), name="plan"),
    path("<int:pk>/extension/", views.ExtensionRequestView.as_view(), name="extension"),
    path("extensions/<int:pk>/decide/", views.ExtensionDecideView.as_view(), name="extension_decide"),
    path("<int:pk>/pause/", views.PauseRequestView.as_view(), name="pause"),
    path("<int:pk>/resume/", views.PauseResumeView.as_view(), name="resume"),
    path("pauses/<int:pk>/decide/", views.PauseDecideView.as_view(), name="pause_decide"),
    path("<int:pk>/notice.pdf", views.HazardNoticeView.as_view(), name="notice"),
    path("files/<int:pk>/", views.HazardFileView.as_view(), name="file"),
]

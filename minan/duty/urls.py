from django.urls import path

from .views.assignments import AssignmentImportView, CoverageView
from .views.groups import GroupCreateView, GroupDisbandView, GroupEditView, GroupListView
from .views.ledger import LedgerExportView, LedgerView
from .views.posts import DutyPostEditView, DutyPostListView, MyDutyListView, PersonDutyListView
from .views.visits import (
    MyInstitutionsView,
    OverdueVisitsView,
    VisitCreateView,
    VisitListView,
    VisitPhotoView,
)

app_name = "duty"
urlpatterns = [
    path("", CoverageView.as_view(), name="coverage"),
    path("groups/", GroupListView.as_view(), name="groups"),
    path("groups/new/", GroupCreateView.as_view(), name="group_new"),
    path("groups/<int:pk>/edit/", GroupEditView.as_view(), name="group_edit"),
    path("groups/<int:pk>/disband/", GroupDisbandView.as_view(), name="group_disband"),
    path("mine/", MyInstitutionsView.as_view(), name="mine"),
    path("visits/", VisitListView.as_view(), name="visits"),
    path("visits/overdue/", OverdueVisitsView.as_view(), name="overdue"),
    path("visits/new/<int:pk>/", VisitCreateView.as_view(), name="visit_new"),
    path("visits/photos/<int:pk>/", VisitPhotoView.as_view(), name="visit_photo"),
    path("ledger/", LedgerView.as_view(), name="ledger"),
    path("ledger/export/", LedgerExportView.as_view(), name="ledger_export"),
    path("import/", AssignmentImportView.as_view(), name="import"),
    # 岗位责任清单
    path("posts/", DutyPostListView.as_view(), name="posts"),
    path("posts/new/", DutyPostEditView.as_view(), name="post_new"),
    path("posts/<int:pk>/edit/", DutyPostEditView.as_view(), name="post_edit"),
    path("my-duties/", MyDutyListView.as_view(), name="my_list"),
    path("people/<int:pk>/duties/", PersonDutyListView.as_view(), name="person_list"),
]

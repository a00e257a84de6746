from django.urls import path

from . import views

app_name = "duty"
urlpatterns = [
    path("", views.CoverageView.as_view(), name="coverage"),
    path("groups/", views.GroupListView.as_view(), name="groups"),
    path("groups/new/", views.GroupCreateView.as_view(), name="group_new"),
    path("groups/<int:pk>/edit/", views.GroupEditView.as_view(), name="group_edit"),
    path("groups/<int:pk>/disband/", views.GroupDisbandView.as_view(), name="group_disband"),
    path("mine/", views.MyInstitutionsView.as_view(), name="mine"),
    path("visits/", views.VisitListView.as_view(), name="visits"),
    path("visits/overdue/", views.OverdueVisitsView.as_view(), name="overdue"),
    path("visits/new/<int:pk>/", views.VisitCreateView.as_view(), name="visit_new"),
    path("visits/photos/<int:pk>/", views.VisitPhotoView.as_view(), name="visit_photo"),
    path("ledger/", views.LedgerView.as_view(), name="ledger"),
    path("ledger/export/", views.LedgerExportView.as_view(), name="ledger_export"),
    path("import/", views.AssignmentImportView.as_view(), name="import"),
    # 岗位责任清单
    path("posts/", views.DutyPostListView.as_view(), name="posts"),
    path("posts/new/", views.DutyPostEditView.as_view(), name="post_new"),
    path("posts/<int:pk>/edit/", views.DutyPostEditView.as_view(), name="post_edit"),
    path("my-duties/", views.MyDutyListView.as_view(), name="my_list"),
    path("people/<int:pk>/duties/", views.PersonDutyListView.as_view(), name="person_list"),
]

from django.urls import path

from . import class_views, code_views, excel_views, views

app_name = "institutions"
urlpatterns = [
    path("", views.InstitutionListView.as_view(), name="list"),
    path("new/", views.InstitutionCreateView.as_view(), name="create"),
    path("insurance/", views.InsuranceView.as_view(), name="insurance"),
    path("lists/", views.ListsView.as_view(), name="lists"),
    path("<int:pk>/", views.InstitutionDetailView.as_view(), name="detail"),
    path("<int:pk>/edit/", views.InstitutionEditView.as_view(), name="edit"),
    path("<int:pk>/do/<slug:action>/", views.InstitutionActionView.as_view(), name="action"),
    path("<int:pk>/do/<slug:action>/<str:arg>/", views.InstitutionActionView.as_view(), name="action_arg"),
    # 一院一码
    path("<int:pk>/code.svg", code_views.CodeSvgView.as_view(), name="code_svg"),
    path("<int:pk>/code.png", code_views.CodePngView.as_view(), name="code_png"),
    path("<int:pk>/sheet.pdf", code_views.CodeSheetView.as_view(), name="code_sheet"),
    path("<int:pk>/code/rotate/", code_views.CodeRotateView.as_view(), name="code_rotate"),
    path("<int:pk>/code/revoke/", code_views.CodeRevokeView.as_view(), name="code_revoke"),
    path("<int:pk>/code/restore/", code_views.CodeRestoreView.as_view(), name="code_restore"),
    path("codes/batch.zip", code_views.CodesZipView.as_view(), name="codes_zip"),
    path("codes/batch.pdf", code_views.CodesPdfView.as_view(), name="codes_pdf"),
    # Classification
    path("classes/", class_views.ClassSchemeView.as_view(), name="classes"),
    path("<int:pk>/class/", class_views.ClassOverrideView.as_view(), name="class_override"),
    # Excel
    path("import/", excel_views.ImportView.as_view(), name="import"),
    path("import/template.xlsx", excel_views.ImportTemplateView.as_view(), name="import_template"),
    path("import/<uuid:job>/", excel_views.ImportProgressView.as_view(), name="import_progress"),
    path("import/<uuid:job>/status/", excel_views.ImportStatusView.as_view(), name="import_status"),
    path("export.xlsx", excel_views.ExportView.as_view(), name="export"),
]

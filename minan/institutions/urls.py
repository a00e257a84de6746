from django.urls import path

from . import views
from .classification import views as classification
from .codes import views as codes
from .imports import views as imports

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
    path("<int:pk>/code.svg", codes.CodeSvgView.as_view(), name="code_svg"),
    path("<int:pk>/code.png", codes.CodePngView.as_view(), name="code_png"),
    path("<int:pk>/sheet.pdf", codes.CodeSheetView.as_view(), name="code_sheet"),
    path("<int:pk>/code/rotate/", codes.CodeRotateView.as_view(), name="code_rotate"),
    path("<int:pk>/code/revoke/", codes.CodeRevokeView.as_view(), name="code_revoke"),
    path("<int:pk>/code/restore/", codes.CodeRestoreView.as_view(), name="code_restore"),
    path("codes/batch.zip", codes.CodesZipView.as_view(), name="codes_zip"),
    path("codes/batch.pdf", codes.CodesPdfView.as_view(), name="codes_pdf"),
    # Classification
    path("classes/", classification.ClassSchemeView.as_view(), name="classes"),
    path("<int:pk>/class/", classification.ClassOverrideView.as_view(), name="class_override"),
    # Excel
    path("import/", imports.ImportView.as_view(), name="import"),
    path("import/template.xlsx", imports.ImportTemplateView.as_view(), name="import_template"),
    path("import/<uuid:job>/", imports.ImportProgressView.as_view(), name="import_progress"),
    path("import/<uuid:job>/status/", imports.ImportStatusView.as_view(), name="import_status"),
    path("export.xlsx", imports.ExportView.as_view(), name="export"),
]

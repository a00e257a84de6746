"""Routes of the checklist pages (included by the app's urls.py under the `inspections` namespace)."""

from __future__ import annotations

from django.urls import path

from .views import (
    ChecklistCreateView,
    ChecklistDeleteView,
    ChecklistDetailView,
    ChecklistEditView,
    ChecklistExportView,
    ChecklistImportView,
    ChecklistListView,
    ChecklistNewVersionView,
    ChecklistPublishView,
    ItemCreateView,
    ItemDeleteView,
    ItemFormView,
    ItemMoveView,
    SectionCreateView,
    SectionDeleteView,
    SectionFormView,
    SectionMoveView,
)

urlpatterns = [
    path("checklists/", ChecklistListView.as_view(), name="checklist_list"),
    path("checklists/new/", ChecklistCreateView.as_view(), name="checklist_new"),
    path("checklists/<int:pk>/", ChecklistDetailView.as_view(), name="checklist_detail"),
    path("checklists/<int:pk>/edit/", ChecklistEditView.as_view(), name="checklist_edit"),
    path("checklists/<int:pk>/publish/", ChecklistPublishView.as_view(), name="checklist_publish"),
    path("checklists/<int:pk>/new-version/", ChecklistNewVersionView.as_view(), name="checklist_new_version"),
    path("checklists/<int:pk>/delete/", ChecklistDeleteView.as_view(), name="checklist_delete"),
    path("checklists/<int:pk>/export/", ChecklistExportView.as_view(), name="checklist_export"),
    path("checklists/<int:pk>/import/", ChecklistImportView.as_view(), name="checklist_import"),
    path("checklists/<int:pk>/sections/new/", SectionCreateView.as_view(), name="checklist_section_new"),
    path("checklists/sections/<int:pk>/edit/", SectionFormView.as_view(), name="checklist_section_edit"),
    path(
        "checklists/sections/<int:pk>/delete/", SectionDeleteView.as_view(), name="checklist_section_delete"
    ),
    path("checklists/sections/<int:pk>/move/", SectionMoveView.as_view(), name="checklist_section_move"),
    path("checklists/<int:pk>/items/new/", ItemCreateView.as_view(), name="checklist_item_new"),
    path("checklists/items/<int:pk>/edit/", ItemFormView.as_view(), name="checklist_item_edit"),
    path("checklists/items/<int:pk>/delete/", ItemDeleteView.as_view(), name="checklist_item_delete"),
    path("checklists/items/<int:pk>/move/", ItemMoveView.as_view(), name="checklist_item_move"),
]

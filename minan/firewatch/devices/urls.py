"""The device registry pages."""

from __future__ import annotations

from django.urls import URLPattern, path

from .views import (
    DeviceCreateView,
    DeviceCredentialView,
    DeviceDetailView,
    DeviceEditView,
    DeviceExportView,
    DeviceImportView,
    DeviceListView,
    DeviceMaintenanceView,
    DeviceStateView,
    DeviceTemplateView,
)

urlpatterns: list[URLPattern] = [
    path("devices/", DeviceListView.as_view(), name="device_list"),
    path("devices/export.xlsx", DeviceExportView.as_view(), name="device_export"),
    path("devices/new/", DeviceCreateView.as_view(), name="device_create"),
    path("devices/import/", DeviceImportView.as_view(), name="device_import"),
    path("devices/import/template.xlsx", DeviceTemplateView.as_view(), name="device_import_template"),
    path("devices/<int:pk>/", DeviceDetailView.as_view(), name="device_detail"),
    path("devices/<int:pk>/edit/", DeviceEditView.as_view(), name="device_edit"),
    path("devices/<int:pk>/maintenance/", DeviceMaintenanceView.as_view(), name="device_maintenance"),
    path("devices/<int:pk>/state/", DeviceStateView.as_view(), name="device_state"),
    path("devices/<int:pk>/credential/", DeviceCredentialView.as_view(), name="device_credential"),
]

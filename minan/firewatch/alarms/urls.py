"""The alarm pages: the board, the alarm list and detail, the escalation chains."""

from __future__ import annotations

from django.urls import URLPattern, path

from .views.alarms import AlarmCloseView, AlarmDetailView, AlarmExportView, AlarmListView
from .views.board import AcknowledgeView, BoardFragmentView, BoardView, ClearView
from .views.chains import ChainEditView, ChainListView, ChainResetView

urlpatterns: list[URLPattern] = [
    path("", BoardView.as_view(), name="board"),
    path("board/fragment/", BoardFragmentView.as_view(), name="board_fragment"),
    path("alarms/<int:pk>/acknowledge/", AcknowledgeView.as_view(), name="alarm_acknowledge"),
    path("alarms/<int:pk>/clear/", ClearView.as_view(), name="alarm_clear"),
    path("alarms/", AlarmListView.as_view(), name="alarm_list"),
    path("alarms/export/", AlarmExportView.as_view(), name="alarm_export"),
    path("alarms/<int:pk>/", AlarmDetailView.as_view(), name="alarm_detail"),
    path("alarms/<int:pk>/close/", AlarmCloseView.as_view(), name="alarm_close"),
    path("escalation/", ChainListView.as_view(), name="chains"),
    path("escalation/edit/", ChainEditView.as_view(), name="chain_edit"),
    path("escalation/reset/", ChainResetView.as_view(), name="chain_reset"),
]

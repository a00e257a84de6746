from django.urls import path
from rest_framework.routers import DefaultRouter

from minan.accounts.api import ApiTokenViewSet, MeView, ObtainTokenView, UserViewSet
from minan.core.audit.api import AuditEventViewSet
from minan.duty.api import DutyAssignmentViewSet, DutyPostViewSet, DutyVisitViewSet, SupervisionGroupViewSet
from minan.firewatch.alarms.api import AlarmBoardViewSet, AlarmViewSet
from minan.firewatch.devices.api import DeviceViewSet, UnregisteredSenderViewSet
from minan.firewatch.figures.api import FirewatchFiguresViewSet
from minan.firewatch.ingest.push import SignalPushView
from minan.hazards.api import HazardViewSet
from minan.hazards.criteria.api import CriteriaClauseViewSet, CriteriaSetViewSet
from minan.hazards.metrics.api import HazardMetricsViewSet
from minan.hazards.revisits.api import RevisitViewSet
from minan.inspections.checklists.api import ChecklistItemViewSet, ChecklistViewSet
from minan.inspections.execution.api import InspectionViewSet
from minan.inspections.experts.api import ExpertViewSet
from minan.inspections.figures.api import InspectionFiguresViewSet
from minan.inspections.plans.api import InspectionPlanViewSet, InspectionTaskViewSet
from minan.institutions.api import InstitutionViewSet
from minan.notify.api import (
    ChannelViewSet,
    DeliveryViewSet,
    NotificationEventsView,
    NotificationPreferencesView,
    NotificationViewSet,
)
from minan.regions.api import RegionViewSet

router = DefaultRouter()
router.register("regions", RegionViewSet, basename="region")
router.register("users", UserViewSet, basename="user")
router.register("api-tokens", ApiTokenViewSet, basename="apitoken")
router.register("institutions", InstitutionViewSet, basename="institution")
router.register("audit-events", AuditEventViewSet, basename="auditevent")
router.register("duty-assignments", DutyAssignmentViewSet, basename="dutyassignment")
router.register("duty-posts", DutyPostViewSet, basename="dutypost")
router.register("duty-visits", DutyVisitViewSet, basename="dutyvisit")
router.register("hazards", HazardViewSet, basename="hazard")
router.register("inspection-plans", InspectionPlanViewSet, basename="inspectionplan")
router.register("inspection-tasks", InspectionTaskViewSet, basename="inspectiontask")
router.register("hazard-revisits", RevisitViewSet, basename="revisit")
router.register("hazard-metrics", HazardMetricsViewSet, basename="hazardmetrics")
router.register("inspection-figures", InspectionFiguresViewSet, basename="inspectionfigures")
router.register("inspections", InspectionViewSet, basename="inspection")
router.register("criteria-sets", CriteriaSetViewSet, basename="criteriaset")
router.register("criteria-clauses", CriteriaClauseViewSet, basename="criteriaclause")
router.register("experts", ExpertViewSet, basename="expert")
router.register("devices", DeviceViewSet, basename="device")
router.register("unregistered-senders", UnregisteredSenderViewSet, basename="unregisteredsender")
router.register("checklists", ChecklistViewSet, basename="checklist")
router.register("checklist-items", ChecklistItemViewSet, basename="checklistitem")
router.register("supervision-groups", SupervisionGroupViewSet, basename="supervisiongroup")
router.register("notifications", NotificationViewSet, basename="notification")
router.register("channels", ChannelViewSet, basename="channel")
router.register("deliveries", DeliveryViewSet, basename="delivery")
router.register("alarms", AlarmViewSet, basename="alarm")
router.register("alarm-board", AlarmBoardViewSet, basename="alarmboard")
router.register("firewatch-figures", FirewatchFiguresViewSet, basename="firewatchfigures")

app_name = "api"
urlpatterns = [
    path("auth/token/", ObtainTokenView.as_view(), name="token"),
    path("me/", MeView.as_view(), name="me"),
    path("notification-preferences/", NotificationPreferencesView.as_view(), name="notification-preferences"),
    path("notification-events/", NotificationEventsView.as_view(), name="notification-events"),
    path("ingest/signals/", SignalPushView.as_view(), name="ingest-signals"),
    *router.urls,
]

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class NavItem:
    label: str | Promise
    url_name: str
    permission: str | None

    @property
    def url(self) -> str:
        return reverse(self.url_name)


NAV = [
    NavItem(_("Home"), "core:home", None),
    NavItem(_("Notifications"), "notify:inbox", None),
    NavItem(_("Institutions"), "institutions:list", "institutions.view_institution"),
    NavItem(_("My institutions"), "duty:mine", "duty.add_dutyvisit"),
    NavItem(_("My duty list"), "duty:my_list", "duty.view_dutypost"),
    NavItem(_("Duty coverage"), "duty:coverage", "duty.add_dutyassignment"),
    NavItem(_("Duty lists"), "duty:posts", "duty.change_dutypost"),
    NavItem(_("Supervision groups"), "duty:groups", "duty.view_supervisiongroup"),
    NavItem(_("Duty ledger"), "duty:ledger", "duty.export_dutyassignment"),
    NavItem(_("Duty visits"), "duty:visits", "duty.view_dutyvisit"),
    NavItem(_("Hazards"), "hazards:list", "hazards.view_hazard"),
    NavItem(_("Major hazards"), "hazards:major", "hazards.view_hazard"),
    NavItem(_("Hazard figures"), "hazards:metrics", "hazards.view_hazard"),
    NavItem(_("Revisits (回头看)"), "hazards:revisits", "hazards.view_revisit"),
    NavItem(_("Hazard criteria"), "hazards:criteria", "hazards.view_hazard"),
    NavItem(_("Inspections"), "inspections:inspection_list", "inspections.view_inspection"),
    NavItem(_("My inspection tasks"), "inspections:task_mine", "inspections.add_inspection"),
    NavItem(_("Inspection tasks"), "inspections:task_list", "inspections.change_inspectiontask"),
    NavItem(_("Inspection plans"), "inspections:plan_list", "inspections.add_inspectionplan"),
    NavItem(_("Inspection figures"), "inspections:figures", "inspections.view_inspection"),
    NavItem(_("Checklists"), "inspections:checklist_list", "inspections.view_inspection"),
    NavItem(_("Expert roster"), "inspections:expert_list", "inspections.change_expert"),
    NavItem(_("Alarm board"), "firewatch:board", "firewatch.view_alarm"),
    NavItem(_("Alarm history"), "firewatch:alarm_list", "firewatch.view_alarm"),
    NavItem(_("Fire monitoring figures"), "firewatch:figures", "firewatch.view_alarm"),
    NavItem(_("Escalation chains"), "firewatch:chains", "firewatch.change_escalationchain"),
    NavItem(_("Fire devices"), "firewatch:device_list", "firewatch.view_device"),
    NavItem(_("Risk classes"), "institutions:classes", "institutions.view_institution"),
    NavItem(_("Insurance"), "institutions:insurance", "institutions.view_insurancepolicy"),
    NavItem(_("Subtypes and ownership"), "institutions:lists", "institutions.change_subtype"),
    NavItem(_("Regions"), "regions:list", "regions.view_region"),
    NavItem(_("Users"), "accounts:user_list", "accounts.view_user"),
    NavItem(_("Working-day calendar"), "core:calendar", "core.view_calendaroverride"),
    NavItem(_("Notification channels"), "notify:channels", "notify.view_channel"),
    NavItem(_("Delivery log"), "notify:deliveries", "notify.view_delivery"),
    NavItem(_("Audit trail"), "audit:list", "audit.view_auditevent"),
]


def menu_for(user: Any) -> list[NavItem]:
    return [item for item in NAV if item.permission is None or user.has_perm(item.permission)]

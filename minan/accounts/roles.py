"""Roles are defined in code; a user's permissions are the union of their roles'.

The three administrator roles are kept apart (三权分立): no account holds two of
them, and each needs a TOTP second factor.
"""

from django.utils.translation import gettext_lazy as _

SYSTEM_ADMIN = "system_admin"
SECURITY_ADMIN = "security_admin"
AUDIT_ADMIN = "audit_admin"
CITY_SAFETY_OFFICE = "city_safety_office"
SECTOR_LEAD = "sector_lead"
SUPERVISION_MEMBER = "supervision_member"
COUNTY_OFFICER = "county_officer"
CADRE = "cadre"
INSPECTOR = "inspector"
EXPERT = "expert"
MEMBER_DEPARTMENT = "member_department"
INSTITUTION_STAFF = "institution_staff"

ADMIN_ROLES = frozenset({SYSTEM_ADMIN, SECURITY_ADMIN, AUDIT_ADMIN})

ROLE_LABELS = {
    SYSTEM_ADMIN: _("System administrator"),
    SECURITY_ADMIN: _("Security administrator"),
    AUDIT_ADMIN: _("Audit administrator"),
    CITY_SAFETY_OFFICE: _("City safety office"),
    SECTOR_LEAD: _("Sector lead"),
    SUPERVISION_MEMBER: _("Supervision group member"),
    COUNTY_OFFICER: _("County officer"),
    CADRE: _("Responsible cadre"),
    INSPECTOR: _("Inspector"),
    EXPERT: _("Expert"),
    MEMBER_DEPARTMENT: _("Member department"),
    INSTITUTION_STAFF: _("Institution staff"),
}
ROLE_CHOICES = list(ROLE_LABELS.items())

_READ = [
    "regions.view_region",
    "institutions.view_institution",
    "institutions.view_insurancepolicy",
    "duty.view_dutyassignment",
    "duty.view_supervisiongroup",
    "duty.view_dutypost",
    "duty.view_dutyvisit",
    "hazards.view_hazard",
    "hazards.view_revisit",
    "hazards.view_revisitdraw",
    "inspections.view_inspection",
    "inspections.view_inspectiontask",
    "inspections.view_inspectionplan",
    "firewatch.view_device",
    "firewatch.view_alarm",
]
# Who authors checklists and keeps the expert roster (deployment-wide reference data).
_INSPECTION_CONFIG = ["inspections.change_checklisttemplate", "inspections.change_expert"]
# Who plans inspections and assigns their tasks, in their own scope.
_INSPECTION_PLANNING = [
    "inspections.add_inspectionplan",
    "inspections.change_inspectionplan",
    "inspections.change_inspectiontask",
    "inspections.export_inspection",
]
_STAFF_DIRECTORY = ["accounts.view_user"]
# 智慧消防: who keeps the device registry in their scope, and who handles alarms.
_DEVICE_REGISTRY = [
    "firewatch.add_device",
    "firewatch.change_device",
    "firewatch.import_device",
    "firewatch.silence_device",
    "firewatch.view_unregisteredsender",
]
_ALARM_HANDLING = ["firewatch.acknowledge_alarm", "firewatch.clear_alarm", "firewatch.close_alarm"]

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    # Configuration and users: creates accounts, loads regions, edits the calendar; grants no roles.
    SYSTEM_ADMIN: frozenset(
        _READ
        + _STAFF_DIRECTORY
        + [
            "accounts.add_user",
            "accounts.change_user",
            "accounts.export_user",
            "regions.add_region",
            "regions.change_region",
            "regions.load_region",
            "core.view_calendaroverride",
            "core.change_calendaroverride",
            # The registry's CONFIGURABLE lists and the classification scheme.
            "institutions.change_riskclass",
            "institutions.change_subtype",
            "institutions.change_ownership",
            # Notification channels (robots, webhooks, the SMS gateway), role defaults, the delivery log.
            "notify.view_channel",
            "notify.add_channel",
            "notify.change_channel",
            "notify.view_delivery",
            "notify.change_roledefault",
            # The criteria catalogue: entering the official text as it becomes known.
            "hazards.change_criteriaset",
            *_INSPECTION_CONFIG,
            "firewatch.change_escalationchain",
        ]
    ),
    # Roles and policies: grants roles and scope, unlocks and disables accounts.
    SECURITY_ADMIN: frozenset(
        _READ
        + _STAFF_DIRECTORY
        + [
            "accounts.change_user",
            "accounts.grant_role",
            "accounts.unlock_user",
            # Other people's API tokens, in scope: list and revoke.
            "accounts.view_apitoken",
            "accounts.delete_apitoken",
        ]
    ),
    # Reads the audit trail, nothing else.
    AUDIT_ADMIN: frozenset(["audit.view_auditevent", "audit.export_auditevent", "regions.view_region"]),
    CITY_SAFETY_OFFICE: frozenset(
        _READ
        + _STAFF_DIRECTORY
        + [
            "accounts.add_user",
            "accounts.change_user",
            "accounts.export_user",
            "accounts.grant_role",
            "institutions.add_institution",
            "institutions.change_institution",
            "institutions.export_institution",
            "institutions.import_institution",
            "duty.add_dutyassignment",
            "duty.change_dutyassignment",
            "duty.export_dutyassignment",
            "duty.add_supervisiongroup",
            "duty.change_supervisiongroup",
            "duty.change_dutypost",
            "core.view_calendaroverride",
            "hazards.add_hazard",
            "hazards.assign_hazard",
            "hazards.accept_hazard",
            "hazards.close_hazard",
            "hazards.supervise_hazard",
            "hazards.cancel_hazard",
            "hazards.export_hazard",
            "hazards.change_criteriaset",
            "inspections.add_inspection",
            *_INSPECTION_CONFIG,
            *_INSPECTION_PLANNING,
            *_DEVICE_REGISTRY,
            *_ALARM_HANDLING,
            "firewatch.change_escalationchain",
        ]
    ),
    SECTOR_LEAD: frozenset(
        _READ
        + _STAFF_DIRECTORY
        + [
            "institutions.change_institution",
            "institutions.export_institution",
            "duty.export_dutyassignment",
            "hazards.export_hazard",
            "inspections.export_inspection",
        ]
    ),  # fmt: skip
    SUPERVISION_MEMBER: frozenset(
        _READ + _STAFF_DIRECTORY + ["institutions.export_institution", "duty.export_dutyassignment"]
    ),
    COUNTY_OFFICER: frozenset(
        _READ
        + _STAFF_DIRECTORY
        + [
            "accounts.add_user",
            "accounts.change_user",
            "accounts.export_user",
            "accounts.grant_role",
            "institutions.add_institution",
            "institutions.change_institution",
            "institutions.export_institution",
            "institutions.import_institution",
            "duty.add_dutyassignment",
            "duty.change_dutyassignment",
            "duty.export_dutyassignment",
            "hazards.add_hazard",
            "hazards.assign_hazard",
            "hazards.accept_hazard",
            "hazards.close_hazard",
            "hazards.supervise_hazard",
            "hazards.cancel_hazard",
            "hazards.export_hazard",
            "inspections.add_inspection",
            *_INSPECTION_PLANNING,
            *_DEVICE_REGISTRY,
            *_ALARM_HANDLING,
        ]
    ),
    # Records 包保督查 visits to the institutions assigned to them (the service checks the assignment).
    # A cadre finds hazards at its institutions, issues notices, accepts and closes general hazards.
    CADRE: frozenset(
        _READ
        + [
            "duty.add_dutyvisit",
            "hazards.add_hazard",
            "hazards.assign_hazard",
            "hazards.accept_hazard",
            "hazards.close_hazard",
            "inspections.add_inspection",
            "firewatch.acknowledge_alarm",
        ]
    ),  # fmt: skip
    INSPECTOR: frozenset(
        _READ
        + [
            "hazards.add_hazard",
            "hazards.assign_hazard",
            "hazards.accept_hazard",
            "inspections.add_inspection",
        ]
    ),
    EXPERT: frozenset(_READ + ["hazards.add_hazard", "inspections.add_inspection"]),
    MEMBER_DEPARTMENT: frozenset(_READ + ["hazards.add_hazard", "inspections.add_inspection"]),
    # The institution reports its own hazards, rectifies and submits evidence, inspects itself.
    INSTITUTION_STAFF: frozenset(
        _READ
        + [
            "hazards.add_hazard",
            "hazards.rectify_hazard",
            "inspections.add_inspection",
            "firewatch.silence_device",
        ]
        + _ALARM_HANDLING
    ),
}


def permissions_for_roles(roles: set[str] | frozenset[str]) -> frozenset[str]:
    perms: set[str] = set()
    for role in roles:
        perms |= ROLE_PERMISSIONS.get(role, frozenset())
    return frozenset(perms)

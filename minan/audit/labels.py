"""Readable names of audit actions, for the audit list and its export."""

from django.apps import apps
from django.utils.translation import gettext_lazy as _

ACTION_LABELS = {
    "login": _("Sign-in"),
    "logout": _("Sign-out"),
    "login.failed": _("Failed sign-in"),
    "login.locked": _("Sign-in locked"),
    "permission.denied": _("Permission denied"),
    "export": _("Export"),
    "user.create": _("Account created"),
    "user.update": _("Account changed"),
    "user.disable": _("Account disabled"),
    "user.enable": _("Account enabled"),
    "user.unlock": _("Lockout lifted"),
    "role.grant": _("Role granted"),
    "role.revoke": _("Role revoked"),
    "scope.grant": _("Scope granted"),
    "scope.revoke": _("Scope removed"),
    "password.change": _("Password changed"),
    "password.reset": _("Password reset"),
    "totp.enrol_start": _("Authenticator set-up started"),
    "totp.enrol_confirm": _("Authenticator set up"),
    "totp.provision": _("Authenticator provisioned"),
    "totp.recovery_codes": _("Recovery codes issued"),
    "totp.reset": _("Authenticator reset"),
    "regions.load": _("Regions loaded"),
    "institution.create": _("Institution created"),
    "institution.update": _("Institution changed"),
    "institution.import": _("Institutions imported"),
    "institution.commissioner": _("Commissioner changed"),
    "institution.insurance": _("Insurance policy added"),
    "institution.insurance_delete": _("Insurance policy deleted"),
    "institution.reclassify": _("Risk class derived"),
    "institution.class_override": _("Risk class set by hand"),
    "institution.class_override_clear": _("Manual risk class removed"),
    "institution.code_rotate": _("Public code rotated"),
    "institution.code_revoke": _("Public code revoked"),
    "institution.code_restore": _("Public code restored"),
    "riskclass.change": _("Risk class changed"),
    "classrule.change": _("Classification rule changed"),
    "classrule.delete": _("Classification rule deleted"),
    "subtype.change": _("Subtype list changed"),
    "duty.assign": _("Responsible cadre assigned"),
    "duty.end": _("Responsible cadre assignment ended"),
    "duty.import": _("Duty assignments imported"),
    "duty.visit": _("Duty visit recorded"),
    "duty.group.create": _("Supervision group created"),
    "duty.group.change": _("Supervision group changed"),
    "duty.group.disband": _("Supervision group disbanded"),
    "duty.post.save": _("Duty list changed"),
    "insurance.expiry_reminder": _("Expired insurance reminder sent"),
    "hazard.report": _("Hazard reported"),
    "hazard.assign": _("Rectification notice issued"),
    "hazard.start": _("Rectification started"),
    "hazard.submit": _("Rectification submitted"),
    "hazard.accept": _("Rectification accepted"),
    "hazard.reject": _("Rectification rejected"),
    "hazard.resume": _("Rectification resumed"),
    "hazard.close": _("Hazard closed (销号)"),
    "hazard.cancel": _("Hazard cancelled"),
    "hazard.plan": _("Five-guarantee plan changed"),
    "hazard.revisit_draw": _("Hazards drawn for revisits"),
    "hazard.revisit": _("Revisit recorded"),
    "hazard.extension_request": _("Deadline extension requested"),
    "hazard.extension_decision": _("Deadline extension decided"),
    "notify.preferences": _("Notification settings changed"),
    "notify.role_default": _("Notification default of a role changed"),
    "notify.channel.create": _("Notification channel created"),
    "notify.channel.change": _("Notification channel changed"),
    "notify.channel.test": _("Test message sent to a channel"),
    "ownership.change": _("Ownership list changed"),
    "calendar.load_year": _("Calendar year loaded"),
    "calendar.override": _("Calendar entry set"),
    "calendar.override_delete": _("Calendar entry deleted"),
    "audit.archive": _("Audit rows archived"),
}


def action_label(action: str) -> str:
    return str(ACTION_LABELS.get(action, action))


def object_label(object_type: str) -> str:
    """The model's verbose name for an `app.model` label; the label itself if unknown."""
    try:
        return str(apps.get_model(object_type)._meta.verbose_name)
    except (LookupError, ValueError):
        return object_type

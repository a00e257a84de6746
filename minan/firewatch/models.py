"""智慧消防: devices in the institutions, the signals they send and
the alarms those raise. Devices and alarms belong to their institution's place and are read through
`for_user`; only the sub-packages' services write.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from minan.core.scoping import ScopedModel


class Device(ScopedModel):
    class Type(models.TextChoices):
        SMOKE = "smoke", _("Smoke detector")
        HEAT = "heat", _("Heat detector")
        CALL_POINT = "call_point", _("Manual call point")
        PANEL = "panel", _("Fire-alarm control panel")
        TRANSMITTER = "transmitter", _("User information transmission device (用户信息传输装置)")
        ELECTRICAL = "electrical", _("Electrical-fire monitor")
        WATER_PRESSURE = "water_pressure", _("Water pressure sensor")
        WATER_LEVEL = "water_level", _("Water level sensor")
        GAS = "gas", _("Combustible gas detector")
        GAS_VALVE = "gas_valve", _("Kitchen gas shut-off valve")
        OTHER = "other", pgettext_lazy("device type", "Other")

    class Protocol(models.TextChoices):
        MQTT = "mqtt", "MQTT"
        HTTP = "http", "HTTP"
        GB26875 = "gb26875", "GB/T 26875.3"

    class Status(models.TextChoices):
        UNKNOWN = "unknown", _("never heard from")
        ONLINE = "online", _("online")
        OFFLINE = "offline", _("offline")

    institution = models.ForeignKey("institutions.Institution", verbose_name=_("institution"),
                                    on_delete=models.PROTECT, related_name="devices")  # fmt: skip
    type = models.CharField(_("device type"), max_length=20, choices=Type.choices)
    name = models.CharField(_("name"), max_length=100)
    building = models.CharField(_("building"), max_length=50, blank=True)
    floor = models.CharField(_("floor"), max_length=20, blank=True)
    room = models.CharField(_("room"), max_length=50, blank=True)
    vendor = models.CharField(_("vendor"), max_length=100, blank=True)
    protocol = models.CharField(_("protocol"), max_length=10, choices=Protocol.choices)
    serial = models.CharField(_("serial number or IMEI"), max_length=64, unique=True)
    # GB/T 26875.3: the transmission device's 6-byte address, and for a component behind it the
    # system type, system address and component address.
    gb_address = models.BigIntegerField(_("GB/T 26875 address"), null=True, blank=True)
    gb_component = models.CharField(_("GB/T 26875 component"), max_length=40, blank=True)
    panel = models.ForeignKey("self", verbose_name=_("control panel"), null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="components")  # fmt: skip
    heartbeat_seconds = models.PositiveIntegerField(_("heartbeat period (s)"), default=300)
    grace_seconds = models.PositiveIntegerField(_("grace (s)"), default=60)
    # {"pressure": {"min": 0.1, "max": 1.2, "for_seconds": 60}}: a reading outside the range for that
    # long raises an alarm (flapping values do not).
    thresholds = models.JSONField(_("thresholds"), default=dict, blank=True)
    maintenance_from = models.DateTimeField(_("maintenance from"), null=True, blank=True)
    maintenance_until = models.DateTimeField(_("maintenance until"), null=True, blank=True)
    maintenance_reason = models.CharField(_("maintenance reason"), max_length=200, blank=True)
    # HTTP push credential (`credentials.issue`): the SHA-256 of the token for bearer checks, and the
    # token sealed with the deployment key (notify.crypto) so an HMAC signature can be checked too.
    token_hash = models.CharField(max_length=128, blank=True, editable=False)
    token_sealed = models.TextField(blank=True, editable=False)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.UNKNOWN)
    last_signal_at = models.DateTimeField(_("last signal"), null=True, blank=True)
    offline_after = models.DateTimeField(null=True, blank=True, editable=False)
    active = models.BooleanField(_("in service"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    scope_kind_field = "institution__kind"
    scope_institution_field = "institution_id"

    class Meta:
        ordering = ["institution", "building", "floor", "name", "id"]
        verbose_name = _("device")
        permissions = [
            ("import_device", "Can import devices from a spreadsheet"),
            ("silence_device", "Can set a device's maintenance window"),
        ]
        indexes = [
            models.Index(fields=["gb_address"]),
            models.Index(fields=["offline_after"], condition=Q(active=True), name="device_offline_due"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.serial})"


class Signal(models.Model):
    """Every signal but heartbeats (coalesced into `Device.last_signal_at`): the device's history, kept
    also while it is in maintenance. `message_id` makes pushes idempotent."""

    class Type(models.TextChoices):
        ALARM = "alarm", _("alarm")
        FAULT = "fault", _("fault")
        RESTORE = "restore", _("restore")
        READING = "reading", _("reading")
        EVENT = "event", _("event")

    # No index of its own: the (device, at) index below serves every look-up by device, and each index
    # is written on every insert (readings are most of the rows).
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="signals", db_index=False)
    type = models.CharField(max_length=10, choices=Type.choices)
    code = models.CharField(max_length=40)
    value = models.CharField(max_length=100, blank=True)
    unit = models.CharField(max_length=20, blank=True)
    at = models.DateTimeField()  # when the device says it happened
    received_at = models.DateTimeField(auto_now_add=True)
    # Unique per device (constraint below), not across devices: two vendors' devices may both count
    # their messages from 1, and one's fire alarm must never be taken for a repeat of the other's.
    message_id = models.CharField(max_length=100, null=True, blank=True)
    in_maintenance = models.BooleanField(default=False)
    out_of_range = models.BooleanField(default=False)  # a reading outside the device's threshold

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["device", "at"]),
            # The duty checks (查岗) not yet judged answered or not: a handful of rows, found at once.
            models.Index(fields=["received_at"], condition=Q(code="duty_check_sent", value=""),
                         name="signal_duty_check_open"),
        ]  # fmt: skip
        constraints = [
            models.UniqueConstraint(fields=["device", "message_id"], name="signal_device_message_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.device_id}:{self.type}:{self.code}"


class Alarm(ScopedModel):
    """One active (not cleared, not closed) alarm per device and kind: repeats update it (`count`,
    `last_at`); a trigger after it was cleared opens a new one. Acknowledged and cleared are flags with
    who and when; closing needs the GB 25201 classification."""

    class Severity(models.TextChoices):
        CRITICAL = "critical", _("critical")
        MAJOR = "major", _("major")
        MINOR = "minor", _("minor")

    class Classification(models.TextChoices):
        REAL = "real", _("real fire")
        FALSE = "false", _("false alarm")
        TEST = "test", _("test")
        FAULT = "fault", _("fault")

    device = models.ForeignKey(Device, on_delete=models.PROTECT, related_name="alarms")
    institution = models.ForeignKey(
        "institutions.Institution", on_delete=models.PROTECT, related_name="alarms"
    )
    kind = models.CharField(_("alarm"), max_length=40)  # fire, fault, gas, offline, threshold:pressure…
    severity = models.CharField(_("severity"), max_length=10, choices=Severity.choices)
    first_at = models.DateTimeField(_("first at"))
    last_at = models.DateTimeField(_("last at"))
    count = models.PositiveIntegerField(default=1)
    detail = models.JSONField(default=dict, blank=True)
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                        related_name="+")  # fmt: skip
    cleared_at = models.DateTimeField(_("cleared at"), null=True, blank=True)
    # Who cleared it by hand (escalation.clear); None when the device's restore or the close-out did.
    cleared_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")  # fmt: skip
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    closed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="+")  # fmt: skip
    classification = models.CharField(_("classification"), max_length=10, choices=Classification.choices,
                                      blank=True)  # fmt: skip
    close_detail = models.JSONField(default=dict, blank=True)
    escalation_step = models.PositiveSmallIntegerField(default=0, editable=False)
    # When the next step of the escalation chain is due; None once acknowledged, closed or at the end.
    # Acknowledged and not cleared, with acknowledgement expiry on: when the next reminder is due.
    next_escalation_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The hazard an uncleared fire-system fault became (escalation.fault_hazards).
    hazard = models.ForeignKey("hazards.Hazard", null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="alarms", editable=False)  # fmt: skip

    scope_kind_field = "institution__kind"
    scope_institution_field = "institution_id"

    class Meta:
        ordering = ["-last_at", "-id"]
        verbose_name = _("alarm")
        permissions = [
            ("acknowledge_alarm", "Can acknowledge an alarm"),
            ("clear_alarm", "Can clear an alarm the device no longer reports"),
            ("close_alarm", "Can close an alarm with its classification"),
        ]
        constraints = [
            # One active alarm per device and kind: a repeat updates it; once
            # cleared (by the device or by hand) it waits for its close-out and a new trigger opens another.
            models.UniqueConstraint(
                fields=["device", "kind"],
                condition=Q(closed_at__isnull=True, cleared_at__isnull=True),
                name="one_active_alarm_per_device_kind",
            )
        ]
        indexes = [
            models.Index(fields=["closed_at", "acknowledged_at"]),
            models.Index(fields=["next_escalation_at"], condition=Q(next_escalation_at__isnull=False),
                         name="alarm_escalation_due"),
        ]  # fmt: skip

    def __str__(self) -> str:
        return f"{self.device_id}:{self.kind}"


class AlarmEvent(models.Model):
    """Append-only history of an alarm: raised, repeated, acknowledged, cleared, escalated, closed."""

    alarm = models.ForeignKey(Alarm, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(max_length=20)
    at = models.DateTimeField(auto_now_add=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.alarm_id}:{self.action}"


class DeviceEvent(models.Model):
    """Online/offline flips, one row per flip (healthchecks style)."""

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="events")
    status = models.CharField(max_length=10, choices=Device.Status.choices)
    at = models.DateTimeField()

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.device_id}:{self.status}"


class EscalationChain(models.Model):
    """Who is told about an unacknowledged alarm, and when.

    `steps` is a list of {"wait_minutes": n, "notify": [recipient codes]}: each step waits that long
    after the previous one (the first usually 0, at once). After the last step, the last step is
    repeated every `repeat_minutes` (0: no repeat) until the alarm is acknowledged. A row without an
    institution is the deployment's default for its kind; an institution's own row overrides it.
    Without any row the defaults in `chains.DEFAULT_CHAINS` apply.
    """

    class Kind(models.TextChoices):
        FIRE = "fire", _("fire alarms")
        OTHER = "other", _("faults, offline and other alarms")

    institution = models.ForeignKey("institutions.Institution", verbose_name=_("institution"), null=True,
                                    blank=True, on_delete=models.CASCADE, related_name="escalation_chains")  # fmt: skip
    kind = models.CharField(_("applies to"), max_length=10, choices=Kind.choices)
    steps = models.JSONField(_("steps"), default=list)
    repeat_minutes = models.PositiveIntegerField(_("repeat every (minutes)"), default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("escalation chain")
        ordering = ["institution", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["institution", "kind"], name="one_chain_per_institution_kind"),
            models.UniqueConstraint(fields=["kind"], condition=Q(institution__isnull=True),
                                    name="one_default_chain_per_kind"),
        ]  # fmt: skip

    def __str__(self) -> str:
        return f"{self.institution_id or 'default'}:{self.kind}"


class UnregisteredSender(ScopedModel):
    """A GB/T 26875.3 address that sent frames but has no device in the registry. The listener does
    not act on its frames (denied by default, `MINAN_GB26875_UNKNOWN_SENDERS`); the registry shows it
    so someone registers the device or finds out who is sending. Placed at the listener's region
    (`MINAN_GB26875_REGION`), so the people who keep that region's registry see it."""

    class Answer(models.TextChoices):
        DENY = "deny", _("denied")
        CONFIRM = "confirm", _("confirmed, not recorded")

    gb_address = models.BigIntegerField(_("GB/T 26875 address"), unique=True)
    peer = models.CharField(_("last sent from"), max_length=64, blank=True)
    answer = models.CharField(_("our reply"), max_length=10, choices=Answer.choices, default=Answer.DENY)
    frames = models.BigIntegerField(_("frames"), default=0)
    first_seen_at = models.DateTimeField(_("first seen"))
    last_seen_at = models.DateTimeField(_("last seen"))

    class Meta:
        verbose_name = _("unregistered sender")
        ordering = ["-last_seen_at"]

    def __str__(self) -> str:
        return str(self.gb_address)

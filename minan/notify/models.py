"""Notifications: the inbox, configured group channels, deliveries and every attempt.

A `Notification` is one message to one person: it is their inbox entry. A `Delivery` carries a
message over one medium (email, SMS, or a configured `Channel`: webhook, WeCom or DingTalk robot) and
records its state; every try is a `DeliveryAttempt`, which is also what the rate limits count.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from minan.core.scoping import ScopedModel


class Urgency(models.TextChoices):
    LOW = "low", _("low (digest)")
    NORMAL = "normal", _("normal")
    URGENT = "urgent", _("urgent")


class Medium(models.TextChoices):
    """How a delivery travels. The inbox is not a medium: every notification is in the inbox."""

    EMAIL = "email", _("email")
    SMS = "sms", _("SMS")
    WEBHOOK = "webhook", _("webhook")
    WECOM = "wecom", _("WeCom group robot")
    DINGTALK = "dingtalk", _("DingTalk group robot")


PERSONAL_MEDIA = (Medium.EMAIL, Medium.SMS)


class Channel(ScopedModel):
    """A configured destination: a generic webhook, a WeCom or DingTalk group robot, or the SMS gateway.

    Robots carry group notices and digests; person-to-person messages go by SMS or
    email. `secret` is stored encrypted (`minan.notify.crypto`) and never shown in full.
    """

    class Kind(models.TextChoices):
        WEBHOOK = "webhook", _("webhook")
        WECOM = "wecom", _("WeCom group robot")
        DINGTALK = "dingtalk", _("DingTalk group robot")
        SMS = "sms", _("SMS gateway (webhook)")

    name = models.CharField(_("name"), max_length=60)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    url = models.URLField(_("address"), max_length=500)
    secret_encrypted = models.TextField(blank=True, editable=False)
    per_minute = models.PositiveSmallIntegerField(_("messages per minute"), default=20)
    # Events this channel receives as group notices (empty: none, only what is sent to it by name).
    events = models.JSONField(_("events"), default=list, blank=True)
    active = models.BooleanField(_("active"), default=True)
    paused_until = models.DateTimeField(null=True, blank=True, editable=False)  # vendor throttling
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("channel")

    def __str__(self) -> str:
        return self.name


class Notification(models.Model):
    """One message to one person: their inbox entry, rendered in their language."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    event = models.CharField(_("event"), max_length=60)
    urgency = models.CharField(_("urgency"), max_length=10, choices=Urgency.choices)
    subject = models.CharField(_("subject"), max_length=200)
    body = models.TextField(_("message"), max_length=4000)
    link = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("notification")
        indexes = [models.Index(fields=["recipient", "read_at"])]

    def __str__(self) -> str:
        return self.subject


class Delivery(models.Model):
    """A message on its way over one medium, with its state. Claimed by a worker with a conditional
    UPDATE (pending → sending); a claim older than the stale limit is taken over (worker restart)."""

    class Status(models.TextChoices):
        HELD = "held", _("held for the digest")
        PENDING = "pending", _("waiting")
        SENDING = "sending", _("sending")
        DELIVERED = "delivered", _("delivered")
        FAILED = "failed", _("failed")
        DIGESTED = "digested", _("sent in a digest")

    notification = models.ForeignKey(
        Notification, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    channel = models.ForeignKey(
        Channel, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    medium = models.CharField(_("medium"), max_length=10, choices=Medium.choices)
    address = models.CharField(_("address"), max_length=200, blank=True)  # email or phone number
    event = models.CharField(_("event"), max_length=60)
    urgency = models.CharField(_("urgency"), max_length=10, choices=Urgency.choices)
    subject = models.CharField(_("subject"), max_length=200)
    body = models.TextField(_("message"), max_length=20000)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    escalation = models.JSONField(default=list, blank=True)  # media still to try after a final failure
    digest = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="parts")
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.medium}:{self.pk}"


class DeliveryAttempt(models.Model):
    """One try. Rows are written before the request goes out (so they count against the rate limits
    at once) and completed with the outcome."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    channel = models.ForeignKey(Channel, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    medium = models.CharField(max_length=10, choices=Medium.choices)
    address = models.CharField(max_length=200, blank=True)
    at = models.DateTimeField(db_index=True)
    ok = models.BooleanField(null=True)  # None while the request is out
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["channel", "at"]), models.Index(fields=["medium", "address", "at"])]

    def __str__(self) -> str:
        return f"{self.delivery_id}@{self.at:%H:%M:%S}"


class UserSettings(models.Model):
    """A person's notification settings: language of messages and quiet hours (urgent events ignore them)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notify_settings"
    )
    language = models.CharField(
        _("language of messages"), max_length=10, choices=settings.LANGUAGES, blank=True
    )
    quiet_from = models.TimeField(_("quiet from"), null=True, blank=True)
    quiet_until = models.TimeField(_("quiet until"), null=True, blank=True)

    def __str__(self) -> str:
        return str(self.user_id)


class Preference(models.Model):
    """Which media, in escalation order, carry an event to a person (blank event: every event)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notify_preferences"
    )
    event = models.CharField(max_length=60, blank=True)
    media = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "event"], name="one_preference_per_event")]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.event or '*'}"


class RoleDefault(models.Model):
    """Administrators' default media per role and event (blank event: every event)."""

    role = models.CharField(max_length=40)
    event = models.CharField(max_length=60, blank=True)
    media = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["role", "event"], name="one_default_per_role_event")]

    def __str__(self) -> str:
        return f"{self.role}:{self.event or '*'}"

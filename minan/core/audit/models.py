from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from minan.core.scoping import ScopedManager

from . import labels


class AuditEvent(models.Model):
    """Append-only record of a security event or a write.

    Each row's `hash` is an HMAC-SHA256, under the key named by `key_id` (held outside the
    database), over its own content and the previous row's hash, so editing, inserting or deleting
    a row breaks the chain at that row (`minan audit verify`). Rows written before keys existed
    have an empty `key_id` and a plain SHA-256 hash; they are accepted only up to the boundary the
    head records (`legacy_until`), and the keyed row after them seals their last hash.
    """

    class Result(models.TextChoices):
        SUCCESS = "success", _("Success")
        FAILURE = "failure", _("Failure")
        DENIED = "denied", _("Denied")

    at = models.DateTimeField(_("time"), db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    username = models.CharField(_("username"), max_length=150, blank=True)
    ip = models.GenericIPAddressField(_("client address"), null=True, blank=True)
    action = models.CharField(_("action"), max_length=60, db_index=True)
    object_type = models.CharField(_("object type"), max_length=60, blank=True)
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    result = models.CharField(_("result"), max_length=10, choices=Result.choices, default=Result.SUCCESS)
    changes = models.JSONField(_("changes"), default=dict, blank=True)
    detail = models.CharField(_("detail"), max_length=500, blank=True)
    region_path = models.CharField(max_length=255, blank=True, db_index=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)
    key_id = models.CharField(max_length=16, blank=True, default="")

    # Read through the scoping mechanism like everything else; rows not tied to a place (logins,
    # denials) are visible to every holder of the audit permission.
    scope_unplaced_visible = True
    objects = ScopedManager()

    class Meta:
        ordering = ["-id"]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        permissions = [("export_auditevent", "Can export the audit trail")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.action} {self.result}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise RuntimeError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise RuntimeError("audit events are append-only; use `minan audit archive`")

    @property
    def action_label(self) -> str:
        return labels.action_label(self.action)

    @property
    def object_label(self) -> str:
        return labels.object_label(self.object_type) if self.object_type else ""


class AuditChainHead(models.Model):
    """The single row every audit write locks first: it serialises the chain across processes.

    It records the last row and the number of rows ever written (archived ones included), sealed
    by an HMAC (`seal`) so that a database writer without the key cannot forge a head; only
    replaying an older sealed head is possible, and the anchors outside the database catch that.
    """

    last_id = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="0" * 64)
    count = models.BigIntegerField(default=0)
    # Rows up to this id were written with plain SHA-256 before keys existed (0: none).
    legacy_until = models.BigIntegerField(default=0)
    key_id = models.CharField(max_length=16, blank=True, default="")
    seal = models.CharField(max_length=64, blank=True, default="")

    def __str__(self) -> str:
        return f"head #{self.last_id}"


class AuditArchive(models.Model):
    """A block of old rows moved to a file; the chain continues from `last_hash`."""

    created_at = models.DateTimeField(auto_now_add=True)
    first_id = models.BigIntegerField()
    last_id = models.BigIntegerField()
    last_hash = models.CharField(max_length=64)
    rows = models.IntegerField()
    path = models.CharField(max_length=500)
    sha256 = models.CharField(max_length=64)

    class Meta:
        ordering = ["-last_id"]

    def __str__(self) -> str:
        return f"archive {self.first_id}-{self.last_id}"

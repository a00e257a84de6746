"""The one notification service and the delivery engine behind it, one module per concept:
`engine` (who gets what over which medium: the rows of a batch of messages), `preferences` (who gets
what, how, and the writes of those choices), `delivery` (`notify()`, which every module calls, and
`notify_many()` for batches; sending, retries, the sweep, digests),
`channels` (group channels and the SMS gateway) and `inbox` (the person's own inbox).
Callers use the names re-exported here: `from minan.notify.services import notify`."""

from .channels import CHANNEL_FIELDS, save_channel, send_test
from .delivery import deliver, notify, notify_many, run_digests, sweep
from .engine import GROUP_MEDIA, Message, render
from .inbox import mark_read
from .preferences import (
    DEFAULT_MEDIA,
    media_for,
    save_preferences,
    save_role_default,
    save_role_defaults,
    sms_channel,
)

__all__ = [
    "CHANNEL_FIELDS",
    "DEFAULT_MEDIA",
    "GROUP_MEDIA",
    "Message",
    "deliver",
    "mark_read",
    "media_for",
    "notify",
    "notify_many",
    "render",
    "run_digests",
    "save_channel",
    "save_preferences",
    "save_role_default",
    "save_role_defaults",
    "send_test",
    "sms_channel",
    "sweep",
]

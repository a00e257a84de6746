"""Date-times the API accepts: inside the years MinAn can store and answer back.

Before 1901 Asia/Shanghai has its local mean time offset (+08:05:43), so a far-off date-time was
stored and answered as "0466-12-16T21:11:23+08:05:43", not a valid RFC 3339 date-time as the schema
says; near year 1 or 9999 the conversion to UTC overflows. Same bounds as reporting periods.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from .period import EARLIEST, LATEST


class InstantField(serializers.DateTimeField):
    """A DateTimeField refusing date-times outside EARLIEST..LATEST with a field error."""

    default_error_messages = {
        "out_of_range": _("Enter a date and time between %(earliest)s and %(latest)s."),
    }

    def to_internal_value(self, value: Any) -> dt.datetime:
        instant = super().to_internal_value(value)
        if not EARLIEST <= instant.date() <= LATEST:
            self.fail("out_of_range", earliest=EARLIEST.isoformat(), latest=LATEST.isoformat())
        return instant

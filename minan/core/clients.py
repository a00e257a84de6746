"""Who sent a request: the client address behind MINAN_PROXY_COUNT trusted reverse proxies.

Lockouts (django-axes, through AXES_CLIENT_IP_CALLABLE), the audit trail and the public pages' rate limit
all use it. Each trusted proxy appends the address it received the request from to X-Forwarded-For
(nginx: `proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for`), so the client is the entry
MINAN_PROXY_COUNT places from the right; anything further left was written by the client itself and is
never trusted. With no proxy (0, the default) the header is ignored.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings


def client_address(request: Any) -> str | None:
    remote = request.META.get("REMOTE_ADDR") or None
    count = int(getattr(settings, "PROXY_COUNT", 0) or 0)
    if count <= 0:
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    if len(hops) < count:  # not (all) written by our proxies: a direct request, or a misconfiguration
        return remote
    candidate = hops[-count]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote

"""The client address behind trusted proxies (MINAN_PROXY_COUNT): lockouts, audit rows and the public rate
limit must neither see every visitor as the proxy's address nor trust an address the client wrote."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import RequestFactory

from minan.core.audit.services import client_ip
from minan.core.clients import client_address


def request(remote: str, forwarded: str | None = None) -> Any:
    made = RequestFactory().get("/", REMOTE_ADDR=remote)
    if forwarded is not None:
        made.META["HTTP_X_FORWARDED_FOR"] = forwarded
    return made


def test_without_proxies_the_header_is_ignored(settings: Any) -> None:
    settings.PROXY_COUNT = 0
    assert client_address(request("203.0.113.7", "198.51.100.1")) == "203.0.113.7"


@pytest.mark.parametrize(
    ("count", "forwarded", "expected"),
    [
        (1, "198.51.100.23", "198.51.100.23"),
        # the client wrote the first entry itself; nginx appended the address it saw
        (1, "1.2.3.4, 198.51.100.23", "198.51.100.23"),
        (2, "1.2.3.4, 198.51.100.23, 10.0.0.2", "198.51.100.23"),
        (1, "2001:db8::1", "2001:db8::1"),
        # fewer entries than proxies, or garbage where the proxy's entry should be: the connection's address
        (2, "198.51.100.23", "127.0.0.1"),
        (1, "1.2.3.4, not-an-address", "127.0.0.1"),
        (1, "", "127.0.0.1"),
    ],
)
def test_behind_proxies_the_entry_they_wrote(
    settings: Any, count: int, forwarded: str, expected: str
) -> None:
    settings.PROXY_COUNT = count
    assert client_address(request("127.0.0.1", forwarded)) == expected


def test_lockouts_and_the_audit_trail_use_it(settings: Any) -> None:
    from axes.helpers import get_client_ip_address

    settings.PROXY_COUNT = 1
    spoofed = request("127.0.0.1", "1.2.3.4, 198.51.100.23")
    assert get_client_ip_address(spoofed) == "198.51.100.23"
    assert client_ip(spoofed) == "198.51.100.23"

"""The client's address through trusted proxies, and the throttle's buckets."""

from __future__ import annotations

import pytest

from realtime.addresses import client_address, parse_networks, throttle_key

PROXIES = parse_networks(["10.0.0.0/8", "127.0.0.1", "fd00::/8"])


def scope(peer: str | None, *forwarded: str) -> dict:
    return {
        "client": (peer, 5000) if peer else None,
        "headers": [(b"x-forwarded-for", value.encode()) for value in forwarded],
    }


@pytest.mark.parametrize(
    ("peer", "forwarded", "proxies", "expected"),
    [
        # No trusted proxies: the header is ignored.
        ("203.0.113.9", ("198.51.100.1",), (), "203.0.113.9"),
        # An untrusted peer cannot claim an address.
        ("203.0.113.9", ("198.51.100.1",), PROXIES, "203.0.113.9"),
        # A trusted proxy: the rightmost untrusted hop.
        ("10.1.2.3", ("198.51.100.1",), PROXIES, "198.51.100.1"),
        ("10.1.2.3", ("6.6.6.6, 198.51.100.1",), PROXIES, "198.51.100.1"),
        ("10.1.2.3", ("6.6.6.6, 198.51.100.1, 10.9.9.9",), PROXIES, "198.51.100.1"),
        # Several headers read as one list, in order.
        ("127.0.0.1", ("6.6.6.6", "198.51.100.1, 10.0.0.2"), PROXIES, "198.51.100.1"),
        # Every hop a proxy: the leftmost.
        ("10.1.2.3", ("10.0.0.7, 10.0.0.8",), PROXIES, "10.0.0.7"),
        # No header from a proxy: the proxy itself.
        ("10.1.2.3", (), PROXIES, "10.1.2.3"),
        # Garbage stops the walk at the last trusted hop.
        ("10.1.2.3", ("198.51.100.1, not-an-ip",), PROXIES, "10.1.2.3"),
        ("10.1.2.3", ("198.51.100.1, 10.0.0.5, <script>",), PROXIES, "10.1.2.3"),
        # Ports and IPv6 forms.
        ("10.1.2.3", ("198.51.100.1:4711",), PROXIES, "198.51.100.1"),
        ("10.1.2.3", ("[2001:db8::1]:4711",), PROXIES, "2001:db8::1"),
        ("fd00::1", ("2001:db8::1",), PROXIES, "2001:db8::1"),
        # No peer at all (a test client).
        (None, ("198.51.100.1",), PROXIES, ""),
    ],
)  # fmt: skip
def test_client_address(peer, forwarded, proxies, expected):
    assert client_address(scope(peer, *forwarded), proxies) == expected


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("198.51.100.1", "198.51.100.1"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::9", "2001:db8:1:2::/64"),
        ("::ffff:198.51.100.1", "198.51.100.1"),
        ("", ""),
    ],
)  # fmt: skip
def test_ipv6_clients_share_a_bucket_per_64(address, key):
    assert throttle_key(address) == key


def test_bad_proxy_entries_are_named():
    with pytest.raises(ValueError, match="not-a-net"):
        parse_networks(["10.0.0.0/8", "not-a-net"])


async def _http_status(path: str, *forwarded: str) -> int:
    from asgiref.testing import ApplicationCommunicator

    from gateway_project.asgi import application

    headers = [(b"host", b"localhost")]
    headers += [(b"x-forwarded-for", value.encode()) for value in forwarded]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    communicator = ApplicationCommunicator(application, scope)
    await communicator.send_input({"type": "http.request", "body": b""})
    start = await communicator.receive_output(timeout=5)
    await communicator.wait(timeout=5)
    return start["status"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(20)
async def test_http_behind_a_trusted_proxy_sees_the_real_client(settings):
    """Django's REMOTE_ADDR is the real client's: /metrics (open to loopback by
    default) is closed to a remote client that reaches it through a local proxy."""
    settings.GATEWAY_TRUSTED_PROXIES = parse_networks(["127.0.0.1"])
    assert await _http_status("/metrics") == 200
    assert await _http_status("/metrics", "203.0.113.5") == 403
    settings.GATEWAY_TRUSTED_PROXIES = ()
    assert await _http_status("/metrics", "203.0.113.5") == 200  # header ignored

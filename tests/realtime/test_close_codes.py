from __future__ import annotations

import pytest

from realtime import close_codes


@pytest.mark.parametrize(
    ("upstream", "client"),
    [
        (None, 1000), (1000, 1000), (1005, 1000), (1001, 4001), (1008, 4008),
        (1011, 4011), (1006, 4006), (1015, 4015), (3000, 3000), (4999, 4999),
        (4000, 4000), (2000, 4502), (5000, 4502),
    ],
)  # fmt: skip
def test_upstream_codes_become_codes_every_server_can_send(upstream, client):
    assert close_codes.to_client(upstream) == client
    assert close_codes.is_sendable(close_codes.to_client(upstream))


@pytest.mark.parametrize(
    ("client", "upstream"),
    [(None, 1000), (1000, 1000), (1001, 1001), (1005, 1000), (1006, 1001),
     (4000, 4000), (3001, 3001), (1004, 1000), (1015, 1000)],
)  # fmt: skip
def test_client_codes_become_codes_the_upstream_client_can_send(client, upstream):
    assert close_codes.to_upstream(client) == upstream

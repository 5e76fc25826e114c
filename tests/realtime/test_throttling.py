"""Failed handshakes are throttled per real client address and per key; a
hammered key adds to one rejected row; odd model names never reach the database."""

from __future__ import annotations

import ipaddress
import logging

import pytest
from django.utils import timezone

from keys.models import VirtualKey
from realtime.models import RealtimeSession
from tests.support.communicators import expect_error_and_close, open_session

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(30)]

BAD_KEY = "vk_" + "b" * 43


@pytest.fixture
def strict(settings):
    """A small burst and no refill while the test runs."""
    settings.GATEWAY_AUTH_FAILURES_PER_SECOND = 0.001
    settings.GATEWAY_AUTH_FAILURE_BURST = 3
    return settings


def behind_proxy(token: str, client: str) -> list[tuple[bytes, bytes]]:
    return [
        (b"authorization", f"Bearer {token}".encode()),
        (b"x-forwarded-for", f"203.0.113.50, {client}".encode()),
    ]


async def refused(token: str, client: str, *, code: int, error_code: str) -> None:
    session = await open_session(headers=behind_proxy(token, client), peer="127.0.0.1")
    await expect_error_and_close(session, code=code, error_code=error_code)


async def test_behind_a_trusted_proxy_each_client_has_its_own_bucket(strict):
    strict.GATEWAY_TRUSTED_PROXIES = (ipaddress.ip_network("127.0.0.1/32"),)
    for _ in range(3):
        await refused(BAD_KEY, "198.51.100.1", code=4401, error_code="invalid_api_key")
    await refused(
        BAD_KEY, "198.51.100.1", code=4429, error_code="too_many_failed_attempts"
    )
    # Another client behind the same proxy is not locked out.
    await refused(BAD_KEY, "198.51.100.2", code=4401, error_code="invalid_api_key")


async def test_from_an_untrusted_peer_the_header_is_ignored(strict):
    strict.GATEWAY_TRUSTED_PROXIES = ()
    for client in ("198.51.100.1", "198.51.100.2", "198.51.100.3"):
        await refused(BAD_KEY, client, code=4401, error_code="invalid_api_key")
    await refused(
        BAD_KEY, "198.51.100.4", code=4429, error_code="too_many_failed_attempts"
    )


async def test_ipv6_clients_share_a_bucket_per_64(strict):
    strict.GATEWAY_TRUSTED_PROXIES = (ipaddress.ip_network("127.0.0.1/32"),)
    for host in (1, 2, 3):
        await refused(
            BAD_KEY, f"2001:db8:0:1::{host}", code=4401, error_code="invalid_api_key"
        )
    await refused(
        BAD_KEY, "2001:db8:0:1::99", code=4429, error_code="too_many_failed_attempts"
    )
    await refused(BAD_KEY, "2001:db8:0:2::1", code=4401, error_code="invalid_api_key")


async def test_a_refused_known_key_is_throttled_from_any_address(
    strict, fake_upstream, issue
):
    strict.GATEWAY_TRUSTED_PROXIES = (ipaddress.ip_network("127.0.0.1/32"),)
    issued = await issue(fake_upstream.url)
    await VirtualKey.objects.filter(pk=issued.key_id).aupdate(revoked_at=timezone.now())
    for client in ("198.51.100.1", "198.51.100.2", "198.51.100.3"):
        await refused(issued.token, client, code=4403, error_code="key_revoked")
    # A fresh address, the same key: out of tokens for the key.
    await refused(
        issued.token, "198.51.100.9", code=4429, error_code="too_many_failed_attempts"
    )
    assert fake_upstream.handshakes == []


async def test_a_hammered_key_adds_to_one_rejected_row(fake_upstream, issue):
    issued = await issue(fake_upstream.url)
    await VirtualKey.objects.filter(pk=issued.key_id).aupdate(revoked_at=timezone.now())
    for _ in range(5):
        session = await open_session(issued.token)
        await expect_error_and_close(session, code=4403, error_code="key_revoked")
    rows = [row async for row in RealtimeSession.objects.all()]
    assert len(rows) == 1
    assert (rows[0].status, rows[0].attempts, rows[0].close_code) == (
        "rejected", 5, 4403,
    )  # fmt: skip
    assert rows[0].ended_at >= rows[0].started_at


async def test_another_reason_starts_another_row(fake_upstream, issue):
    issued = await issue(fake_upstream.url, models=("gpt-realtime",))
    for model in ("gpt-4o-realtime-preview", "gpt-4o-realtime-preview"):
        session = await open_session(issued.token, path=f"/v1/realtime?model={model}")
        await expect_error_and_close(session, code=4403, error_code="model_not_allowed")
    await VirtualKey.objects.filter(pk=issued.key_id).aupdate(revoked_at=timezone.now())
    session = await open_session(issued.token)
    await expect_error_and_close(session, code=4403, error_code="key_revoked")
    attempts = sorted([row.attempts async for row in RealtimeSession.objects.all()])
    assert attempts == [1, 2]


@pytest.mark.parametrize(
    "model", ["x" * 201, "gpt realtime", "gpt-realtime\u00e9", "-leading-dash", "a;b"]
)
async def test_odd_model_names_are_refused_before_the_database(
    fake_upstream, issue, caplog, model
):
    issued = await issue(fake_upstream.url)
    await VirtualKey.objects.filter(pk=issued.key_id).aupdate(revoked_at=timezone.now())
    with caplog.at_level(logging.WARNING):
        session = await open_session(
            issued.token, path=f"/v1/realtime?model={model}".replace(" ", "%20")
        )
        await expect_error_and_close(session, code=4400, error_code="invalid_model")
    assert not await RealtimeSession.objects.aexists()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert fake_upstream.handshakes == []


async def test_a_long_allowed_name_still_works(fake_upstream, issue):
    model = "gpt-realtime-" + "9" * 180
    issued = await issue(fake_upstream.url)
    session = await open_session(issued.token, path=f"/v1/realtime?model={model}")
    assert (await session.receive_json_from(timeout=5))["type"] == "session.created"
    await session.disconnect()

"""The short-lived cache of authorized keys: fast, and never lenient for long."""

from __future__ import annotations

import datetime

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

import realtime.keycache
from keys import services as key_services
from keys.models import VirtualKey
from keys.values import KeyIdentity, ProviderTarget, ResolvedCredential, Secret
from realtime.models import RealtimeSession
from tests.support.communicators import expect_error_and_close, open_session

pytestmark = pytest.mark.timeout(20)
db = pytest.mark.django_db(transaction=True)


async def started(token: str):
    session = await open_session(token)
    assert (await session.receive_json_from())["type"] == "session.created"
    return session


@db
async def test_a_recently_authorized_key_skips_the_database(
    fake_upstream, issue, settings, process
):
    settings.GATEWAY_KEY_CACHE_SECONDS = 60
    settings.GATEWAY_KEY_RECHECK_SECONDS = 60
    issued = await issue(fake_upstream.url)
    await (await started(issued.token)).disconnect()
    assert process.key_cache.get(issued.token) is not None
    # Revoked behind the gateway's back (no announcement): served from the cache.
    await VirtualKey.objects.filter(pk=issued.key_id).aupdate(revoked_at=timezone.now())
    await (await started(issued.token)).disconnect()


@db
async def test_without_the_cache_every_handshake_reads_the_key(
    fake_upstream, issue, settings, process
):
    settings.GATEWAY_KEY_CACHE_SECONDS = 0
    issued = await issue(fake_upstream.url)
    await (await started(issued.token)).disconnect()
    assert process.key_cache.get(issued.token) is None
    await VirtualKey.objects.filter(pk=issued.key_id).aupdate(revoked_at=timezone.now())
    refused = await open_session(issued.token)
    await expect_error_and_close(refused, code=4403, error_code="key_revoked")


@db
async def test_an_announced_revocation_drops_the_entry_at_once(
    fake_upstream, issue, settings, process
):
    settings.GATEWAY_KEY_CACHE_SECONDS = 60
    settings.GATEWAY_KEY_RECHECK_SECONDS = 60  # only the announcement can do it
    issued = await issue(fake_upstream.url)
    live = await started(issued.token)
    assert process.key_cache.get(issued.token) is not None
    key = await VirtualKey.objects.aget(pk=issued.key_id)
    await sync_to_async(key_services.virtual_key_revoke)(key=key)
    await expect_error_and_close(live, code=4403, error_code="key_revoked")
    assert process.key_cache.get(issued.token) is None
    refused = await open_session(issued.token)
    await expect_error_and_close(refused, code=4403, error_code="key_revoked")


@db
async def test_a_recheck_that_finds_a_revocation_drops_the_entry(
    fake_upstream, issue, settings
):
    settings.GATEWAY_KEY_CACHE_SECONDS = 60
    settings.GATEWAY_KEY_RECHECK_SECONDS = 0.2
    issued = await issue(fake_upstream.url)
    live = await started(issued.token)
    await VirtualKey.objects.filter(pk=issued.key_id).aupdate(revoked_at=timezone.now())
    await expect_error_and_close(live, code=4403, error_code="key_revoked")
    refused = await open_session(issued.token)
    await expect_error_and_close(refused, code=4403, error_code="key_revoked")


@db
async def test_refusals_are_never_served_from_the_cache(fake_upstream, issue, settings):
    settings.GATEWAY_KEY_CACHE_SECONDS = 60
    issued = await issue(fake_upstream.url, models=("gpt-realtime",))
    await (await started(issued.token)).disconnect()
    refused = await open_session(issued.token, path="/v1/realtime?model=other")
    await expect_error_and_close(refused, code=4403, error_code="model_not_allowed")
    statuses = [
        s async for s in RealtimeSession.objects.values_list("status", flat=True)
    ]
    assert sorted(statuses) == ["finished", "rejected"]  # the refusal was logged


def resolved_key(expires_at=None) -> ResolvedCredential:
    provider = ProviderTarget(provider_id=1, slug="p", kind="openai", upstream_url="")
    identity = KeyIdentity(
        key_id=7, name="k", provider=provider, max_concurrent_sessions=None,
        expires_at=expires_at,
    )  # fmt: skip
    return ResolvedCredential(provider=provider, credential=Secret("s"), key=identity)


def test_entries_expire_with_their_key_and_after_the_ttl(
    settings, monkeypatch, process
):
    settings.GATEWAY_KEY_CACHE_SECONDS = 2
    past = timezone.now() - datetime.timedelta(seconds=1)
    process.key_cache.put("expired", resolved_key(expires_at=past))
    assert process.key_cache.get("expired") is None

    clock = [1000.0]
    monkeypatch.setattr(realtime.keycache.time, "monotonic", lambda: clock[0])
    process.key_cache.put("fresh", resolved_key())
    clock[0] += 1.9
    assert process.key_cache.get("fresh") is not None
    clock[0] += 0.2
    assert process.key_cache.get("fresh") is None


def test_forget_drops_every_token_of_a_key_and_raw_keys_are_never_kept(
    settings, process
):
    settings.GATEWAY_KEY_CACHE_SECONDS = 60
    process.key_cache.put("a", resolved_key())
    process.key_cache.put("b", resolved_key())
    process.key_cache.forget(7)
    assert process.key_cache.get("a") is None and process.key_cache.get("b") is None
    raw = ResolvedCredential(
        provider=resolved_key().provider, credential=Secret("sk-raw"), key=None
    )
    process.key_cache.put("sk-raw", raw)
    assert process.key_cache.get("sk-raw") is None

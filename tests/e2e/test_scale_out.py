"""The production topology: Debian's nginx, on the shipped deploy/nginx.conf, in
front of two `rungateway` processes (one Daphne, one uvicorn) sharing
PostgreSQL and Redis.

Clients connect over TLS to nginx from loopback addresses of their own
(127.0.0.x), so each is a distinct client to nginx; the gateways trust nginx
(GATEWAY_TRUSTED_PROXIES=127.0.0.1), which tells them who the client is.

Needs PostgreSQL, Redis and nginx: skipped without them, except where
GATEWAY_REQUIRE_TOPOLOGY=1 (`.ci/run`'s second pass), where it fails instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.cookiejar
import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from realtime.models import RealtimeSession
from tests.support.certificates import self_signed
from tests.support.clients import BIG, MODEL, converse, receive_event, wait_for_row
from tests.support.nginx import SHIPPED, NginxProcess, nginx_binary
from tests.support.processes import GatewayLauncher, GatewayProcess

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(60),
]

# Seconds: the heartbeat and the sweep's period, in the test that kills a
# process. Elsewhere the default (30 s), so that no other gateway sharing the
# test database (this module's pair, the session's Daphne) sweeps that test's
# row first: each process judges staleness by its own period.
CHECKPOINT = 0.5
BURST = 4  # failed handshakes per client address, per process
SERVERS = {"gw-daphne": "daphne", "gw-uvicorn": "uvicorn"}  # GATEWAY_INSTANCE
SETTINGS = {
    "GATEWAY_TRUSTED_PROXIES": "127.0.0.1",
    # Only the channel layer (Redis) can close a revoked key's sessions in time.
    "GATEWAY_KEY_RECHECK_SECONDS": "300",
    "GATEWAY_AUTH_FAILURE_BURST": str(BURST),
    "GATEWAY_AUTH_FAILURES_PER_SECOND": "0.001",  # no refill during a test
}


def _missing() -> str | None:
    if connection.vendor != "postgresql":
        return "the production topology needs PostgreSQL (DATABASE_URL)"
    if not settings.REDIS_URL:
        return "the production topology needs Redis (REDIS_URL)"
    if nginx_binary() is None:
        return "the production topology needs Debian's nginx (apt-get install nginx)"
    return None


@dataclass
class Topology:
    nginx: NginxProcess
    gateways: dict[str, GatewayProcess]  # by instance name


@contextlib.contextmanager
def scale_out(
    gateway_env: dict[str, str], directory: Path, **overrides: str
) -> Iterator[Topology]:
    """nginx on the shipped configuration in front of both gateways."""
    if reason := _missing():
        if os.environ.get("GATEWAY_REQUIRE_TOPOLOGY") == "1":
            pytest.fail(f"{reason}; GATEWAY_REQUIRE_TOPOLOGY=1 makes this fatal")
        pytest.skip(reason)
    binary = nginx_binary()
    assert binary is not None
    cert, key, client_tls = self_signed(directory)
    with GatewayLauncher(gateway_env, log_dir=directory) as launcher:
        gateways = {
            name: launcher.start(
                server=server,
                env_overrides={**SETTINGS, **overrides, "GATEWAY_INSTANCE": name},
            )
            for name, server in SERVERS.items()
        }
        nginx = NginxProcess.start(
            binary=binary,
            directory=directory,
            upstream_ports=[gateway.port for gateway in gateways.values()],
            cert=cert,
            key=key,
            client_tls=client_tls,
        )
        try:
            yield Topology(nginx, gateways)
        finally:
            nginx.stop()


@pytest.fixture(scope="module")
def topology(gateway_env, tmp_path_factory):
    """One topology for the tests that leave both processes running."""
    with scale_out(gateway_env, tmp_path_factory.mktemp("scale-out")) as running:
        yield running


async def open_session(
    nginx: NginxProcess, token: str, *, source: str, forwarded_for: str = ""
) -> ClientConnection:
    """A client of nginx (wss://) from loopback address `source`."""
    headers = {"Authorization": f"Bearer {token}"}
    if forwarded_for:  # what a client may claim; nginx must not pass it on
        headers["X-Forwarded-For"] = forwarded_for
    return await connect(
        f"{nginx.wss_url}?model={MODEL}",
        additional_headers=headers,
        ssl=nginx.client_tls,
        local_addr=(source, 0),
        max_size=BIG,
        open_timeout=10,
        compression=None,
    )


@dataclass(frozen=True)
class Outcome:
    error: str | None  # the gateway's error code; None: the session opened
    code: int | None = None  # the close code (Daphne) or HTTP status (uvicorn)


async def handshake(nginx: NginxProcess, token: str, **client) -> Outcome:
    """Open a session through nginx and close it again, or how the gateway
    refused it.

    Daphne refuses with an error event and a close code, uvicorn with the HTTP
    status and a JSON body (see realtime/client.py); nginx passes both on.
    """
    return await _outcome(open_session(nginx, token, **client))


async def handshake_at(gateway: GatewayProcess, token: str, *, source: str) -> Outcome:
    """The same, straight to one gateway process (from an untrusted address)."""
    return await _outcome(
        connect(
            f"{gateway.ws_url}?model={MODEL}",
            additional_headers={"Authorization": f"Bearer {token}"},
            local_addr=(source, 0),
            open_timeout=10,
        )
    )


async def _outcome(connecting: Awaitable[ClientConnection]) -> Outcome:
    try:
        ws = await connecting
    except InvalidStatus as exc:
        body = json.loads(exc.response.body or b"{}")
        return Outcome(body["error"]["code"], exc.response.status_code)
    event = await receive_event(ws)
    if event["type"] != "error":
        await ws.close()
        return Outcome(None)
    async with asyncio.timeout(10):
        await ws.wait_closed()
    return Outcome(event["error"]["code"], ws.close_code)


async def active_row(**filters) -> RealtimeSession:
    """The one active row matching `filters` (polled, bounded)."""
    async with asyncio.timeout(10):
        while (row := await RealtimeSession.objects.filter(**filters).afirst()) is None:
            await asyncio.sleep(0.05)
    assert row.status == "active"
    return row


def test_the_shipped_timeouts_are_well_above_the_ping_interval():
    """A quiet session carries a ping each way every GATEWAY_PING_INTERVAL;
    nginx must not cut it before the gateway's own ping timeout would."""
    shipped = SHIPPED.read_text()
    limit = settings.GATEWAY_PING_INTERVAL + settings.GATEWAY_PING_TIMEOUT
    for directive in ("proxy_read_timeout", "proxy_send_timeout"):
        (seconds,) = re.findall(rf"^\s*{directive} (\d+)s;", shipped, re.MULTILINE)
        assert int(seconds) >= 3 * limit


async def test_sessions_land_on_both_processes(topology, fake_upstream, issue):
    instances, sessions = set(), []
    for index in range(4):  # least_conn: two are enough; a bound all the same
        issued = await issue(fake_upstream.url, name=f"spread-{index}")
        ws = await open_session(topology.nginx, issued.token, source="127.0.0.5")
        assert (await receive_event(ws))["type"] == "session.created"
        sessions.append((ws, issued))
        row = await active_row(virtual_key_name=issued.name)
        assert row.client_address == "127.0.0.5"  # the client, not nginx
        instances.add(row.gateway_instance)
        if instances == set(SERVERS):
            break
    assert instances == set(SERVERS)
    for ws, issued in sessions:
        assert (await converse(ws))[-1]["type"] == "response.done"
        await ws.close()
        row = await wait_for_row(virtual_key_name=issued.name)
        assert row.status == "finished"


def test_plain_http_is_redirected_except_the_health_check(topology):
    opener = urllib.request.build_opener(NoRedirects)
    with opener.open(f"{topology.nginx.http_url}/healthz", timeout=5) as response:
        assert response.status == 200
    with pytest.raises(urllib.error.HTTPError) as redirect:
        opener.open(f"{topology.nginx.http_url}/admin/?next=1", timeout=5)
    assert redirect.value.code == 301
    assert redirect.value.headers["Location"] == "https://127.0.0.1/admin/?next=1"


class NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs) -> None:
        return None


class AdminBrowser:
    """Logs in to the admin through nginx (HTTPS) and submits forms, like a person."""

    def __init__(self, nginx: NginxProcess) -> None:
        self.base_url = nginx.https_url
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=nginx.client_tls),
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
        )

    def get(self, path: str) -> str:
        with self.opener.open(self.base_url + path, timeout=10) as response:
            return response.read().decode()

    def post(self, path: str, fields: list[tuple[str, str]]) -> str:
        form = self.get(path)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
        assert token is not None, form
        data = urllib.parse.urlencode([("csrfmiddlewaretoken", token[1]), *fields])
        request = urllib.request.Request(
            self.base_url + path,
            data=data.encode(),
            headers={"Referer": self.base_url + path},
        )
        with self.opener.open(request, timeout=10) as response:
            return response.read().decode()


async def test_a_revocation_through_one_process_closes_sessions_on_the_other(
    topology, fake_upstream, issue
):
    """The key's sessions are on both processes, so whichever one serves the
    admin's revoke action, a session on the other is closed by the broadcast."""
    issued = await issue(fake_upstream.url, name="revoked")
    rows = RealtimeSession.objects.filter(virtual_key_name=issued.name)
    sessions = []
    while len(sessions) < 4:
        ws = await open_session(topology.nginx, issued.token, source="127.0.0.6")
        assert (await receive_event(ws))["type"] == "session.created"
        sessions.append(ws)
        if {row.gateway_instance async for row in rows.all()} == set(SERVERS):
            break
    assert {row.gateway_instance async for row in rows.all()} == set(SERVERS)

    await sync_to_async(User.objects.create_superuser)("ops", "", "a-long-pass-phrase")
    browser = AdminBrowser(topology.nginx)
    await sync_to_async(browser.post)(
        "/admin/login/?next=/admin/",
        [("username", "ops"), ("password", "a-long-pass-phrase"), ("next", "/admin/")],
    )
    started = time.monotonic()
    page = await sync_to_async(browser.post)(
        "/admin/keys/virtualkey/",
        [
            ("action", "revoke_selected"),
            ("_selected_action", str(issued.key_id)),
            ("post", "yes"),  # confirmed (the confirmation page lists its sessions)
        ],
    )
    assert "Revoked 1 key" in page

    for ws in sessions:
        event = await receive_event(ws, timeout=5)
        assert (event["type"], event["error"]["code"]) == ("error", "key_revoked")
        async with asyncio.timeout(5):
            await ws.wait_closed()
        assert ws.close_code == 4403
    elapsed = time.monotonic() - started
    assert elapsed < 3, f"revocation took {elapsed:.2f} s"
    async with asyncio.timeout(10):
        while await rows.filter(ended_at__isnull=True).aexists():
            await asyncio.sleep(0.05)
    ended = {(row.status, row.close_code) async for row in rows.all()}
    assert ended == {("finished", 4403)}


async def test_the_concurrent_session_limit_holds_across_both(
    topology, fake_upstream, issue
):
    issued = await issue(fake_upstream.url, name="limited", max_sessions=2)
    rows = RealtimeSession.objects.filter(virtual_key_name=issued.name)
    first = await open_session(topology.nginx, issued.token, source="127.0.0.7")
    second = await open_session(topology.nginx, issued.token, source="127.0.0.7")
    for ws in (first, second):
        assert (await receive_event(ws))["type"] == "session.created"
    # Through nginx, and at each process directly (nginx's least_conn may
    # send every new handshake to the same process): Daphne refuses with an
    # error event and close code 4429, uvicorn with HTTP 429.
    outcome = await handshake(topology.nginx, issued.token, source="127.0.0.7")
    assert outcome.error == "concurrent_sessions_exceeded"
    codes = []
    for gateway in topology.gateways.values():
        outcome = await handshake_at(gateway, issued.token, source="127.0.0.8")
        assert outcome.error == "concurrent_sessions_exceeded"
        codes.append(outcome.code)
    assert set(codes) == {4429, 429}
    rejected = await rows.aget(status="rejected")  # one row a reason a minute
    assert rejected.attempts == 1 + len(codes)
    assert await rows.filter(status="active").acount() == 2

    # A freed place is free on either process.
    await first.close()
    async with asyncio.timeout(10):
        while await rows.filter(status="active").acount() > 1:
            await asyncio.sleep(0.05)
    assert await handshake(topology.nginx, issued.token, source="127.0.0.7") == (
        Outcome(None)
    )
    await second.close()


async def test_the_throttle_counts_the_real_client_whatever_it_claims(
    topology, fake_upstream, issue
):
    """127.0.0.1 is nginx's own address, inside GATEWAY_TRUSTED_PROXIES, like a
    client on the proxies' network. It claims a new X-Forwarded-For address
    with every bad key; nginx replaces the header with the address it saw, so
    every failure counts against 127.0.0.1. Were the client's hops passed on
    ($proxy_add_x_forwarded_for), each claimed address would be a fresh client.
    The throttle is per process: BURST failures on each (however nginx's
    least_conn spreads them, at most 2 x BURST get through)."""
    errors: list[str | None] = []
    while errors[-4:] != ["too_many_failed_attempts"] * 4 and len(errors) < 40:
        attempt = len(errors)
        outcome = await handshake(
            topology.nginx,
            f"vk-not-a-key-{attempt}",
            source="127.0.0.1",
            forwarded_for=f"198.51.100.{attempt}",
        )
        errors.append(outcome.error)
    assert set(errors) == {"invalid_api_key", "too_many_failed_attempts"}
    assert errors.count("invalid_api_key") <= 2 * BURST
    assert errors[-4:] == ["too_many_failed_attempts"] * 4

    # Another client behind the same nginx is not held back, whatever it claims.
    issued = await issue(fake_upstream.url, name="innocent")
    for _ in range(2):
        outcome = await handshake(
            topology.nginx, "vk-typo", source="127.0.0.2", forwarded_for="127.0.0.1"
        )
        assert outcome.error == "invalid_api_key"
    ws = await open_session(
        topology.nginx, issued.token, source="127.0.0.2", forwarded_for="203.0.113.9"
    )
    assert (await receive_event(ws))["type"] == "session.created"
    assert (await active_row(virtual_key_name=issued.name)).client_address == (
        "127.0.0.2"
    )
    await ws.close()
    # The throttled client stays throttled, even with a good key.
    outcome = await handshake(topology.nginx, issued.token, source="127.0.0.1")
    assert outcome.error == "too_many_failed_attempts"


async def test_a_killed_process_has_its_rows_swept_by_the_survivor(
    gateway_env, tmp_path, fake_upstream, issue
):
    """SIGKILL: no drain, no final write. The survivor marks the dead process's
    row interrupted within the sweep's bound; its own sessions never notice;
    nginx sends new sessions to it alone."""
    checkpoint = {"GATEWAY_CHECKPOINT_SECONDS": str(CHECKPOINT)}
    with scale_out(gateway_env, tmp_path, **checkpoint) as running:
        nginx, gateways = running.nginx, running.gateways
        doomed_key = await issue(fake_upstream.url, name="doomed")
        doomed = await open_session(nginx, doomed_key.token, source="127.0.0.8")
        survivor_key = await issue(fake_upstream.url, name="survivor")
        survivor = await open_session(nginx, survivor_key.token, source="127.0.0.8")
        for ws in (doomed, survivor):
            assert (await receive_event(ws))["type"] == "session.created"
        doomed_row = await active_row(virtual_key_name=doomed_key.name)
        survivor_row = await active_row(virtual_key_name=survivor_key.name)
        assert doomed_row.gateway_instance != survivor_row.gateway_instance
        assert (await converse(doomed))[-1]["type"] == "response.done"
        async with asyncio.timeout(5):  # a heartbeat with the counts in it
            while (
                await RealtimeSession.objects.aget(pk=doomed_row.pk)
            ).messages_from_client < 2:
                await asyncio.sleep(0.05)

        gateways[doomed_row.gateway_instance].process.kill()
        killed = time.monotonic()
        async with asyncio.timeout(5):  # nginx drops the dead process's client
            await doomed.wait_closed()
        # The survivor's session goes on, and new sessions go there.
        assert (await converse(survivor))[-1]["type"] == "response.done"
        newcomer_key = await issue(fake_upstream.url, name="newcomer")
        newcomer = await open_session(nginx, newcomer_key.token, source="127.0.0.8")
        assert (await receive_event(newcomer))["type"] == "session.created"
        newcomer_row = await active_row(virtual_key_name=newcomer_key.name)
        assert newcomer_row.gateway_instance == survivor_row.gateway_instance

        # Stale after three missed heartbeats; swept within 1.25 periods more.
        swept = await wait_for_row(timeout=10, pk=doomed_row.pk)
        elapsed = time.monotonic() - killed
        assert swept.status == "interrupted"
        assert elapsed < 4.25 * CHECKPOINT + 1.5, f"swept after {elapsed:.2f} s"
        assert swept.messages_from_client >= 2  # what it last checkpointed
        assert swept.ended_at == swept.checkpointed_at  # its last heartbeat
        survivor_process = gateways[survivor_row.gateway_instance]
        async with asyncio.timeout(5):  # its log line follows the update
            while "marked 1 session(s) of dead" not in survivor_process.log():
                await asyncio.sleep(0.05)

        assert (await converse(survivor))[-1]["type"] == "response.done"
        assert (await active_row(pk=survivor_row.pk)).status == "active"
        for ws in (survivor, newcomer):
            await ws.close()
        for row in (survivor_row, newcomer_row):
            assert (await wait_for_row(pk=row.pk)).status == "finished"


@pytest.mark.parametrize("server", ["daphne", "uvicorn"])
async def test_only_the_trusted_proxies_name_the_client(
    server, gateway_process, fake_upstream, issue
):
    """Without GATEWAY_TRUSTED_PROXIES, X-Forwarded-For from 127.0.0.1 is a
    client's claim like any other, under either server (uvicorn's own proxy
    headers, which trust 127.0.0.1 by default, are off)."""
    gateway = gateway_process(
        server=server, env_overrides={"GATEWAY_TRUSTED_PROXIES": ""}
    )
    issued = await issue(fake_upstream.url)
    ws = await connect(
        f"{gateway.ws_url}?model={MODEL}",
        additional_headers={
            "Authorization": f"Bearer {issued.token}",
            "X-Forwarded-For": "203.0.113.9",
        },
        open_timeout=10,
    )
    assert (await receive_event(ws))["type"] == "session.created"
    assert (await active_row(virtual_key_name=issued.name)).client_address == (
        "127.0.0.1"
    )
    await ws.close()
    await wait_for_row(virtual_key_name=issued.name)

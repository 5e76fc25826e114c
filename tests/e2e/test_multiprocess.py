"""Several gateway processes sharing one database (and Redis, when configured).

With Redis (REDIS_URL) the channel layer must close sessions on the other
process at once; without it, each process has its own in-memory layer and the
sessions' periodic check of their row and key is what must do it."""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import re
import time
import urllib.parse
import urllib.request

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.models import User

from realtime.models import RealtimeSession
from tests.support.clients import (
    expect_refusal,
    open_client,
    receive_event,
    wait_for_row,
)
from tests.support.processes import GatewayLauncher

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(90),
]

# With Redis, only the channel layer can close the session in time: the periodic
# re-check is pushed far out. Without it, the re-check is what must do it.
USES_REDIS = bool(settings.REDIS_URL)
RECHECK_SECONDS = "300" if USES_REDIS else "0.5"


@pytest.fixture(scope="module")
def two_gateways(gateway_env, tmp_path_factory):
    overrides = {
        "GATEWAY_KEY_RECHECK_SECONDS": RECHECK_SECONDS,
        # The admin is driven over plain http here; its cookies are HTTPS-only
        # by default outside DEBUG.
        "DJANGO_SECURE_COOKIES": "false",
    }
    log_dir = tmp_path_factory.mktemp("pair")
    with GatewayLauncher(gateway_env, log_dir=log_dir) as launcher:
        # Daphne: a refused handshake is an error event and a close (4403)
        first = launcher.start(server="daphne", env_overrides=overrides)
        yield first, launcher.start(server="daphne", env_overrides=overrides)


class AdminBrowser:
    """Logs in to one gateway's admin and submits forms there, like a person."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def get(self, path: str) -> str:
        with self.opener.open(self.base_url + path, timeout=10) as response:
            return response.read().decode()

    def post(self, path: str, fields: list[tuple[str, str]]) -> str:
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', self.get(path))
        data = urllib.parse.urlencode(
            [("csrfmiddlewaretoken", token.group(1)), *fields]
        )
        request = urllib.request.Request(
            self.base_url + path, data=data.encode(), headers={"Referer": self.base_url}
        )
        with self.opener.open(request, timeout=10) as response:
            return response.read().decode()


async def test_revoking_through_one_process_closes_a_session_on_another(
    two_gateways, fake_upstream, issue
):
    first, second = two_gateways
    issued = await issue(fake_upstream.url)
    await sync_to_async(User.objects.create_superuser)("ops", "", "a-long-pass-phrase")
    ws = await open_client(second.ws_url, token=issued.token)
    assert (await receive_event(ws))["type"] == "session.created"

    browser = AdminBrowser(first.http_url)
    await sync_to_async(browser.post)(
        "/admin/login/?next=/admin/",
        [("username", "ops"), ("password", "a-long-pass-phrase"), ("next", "/admin/")],
    )
    selected = [("action", "revoke_selected"), ("_selected_action", str(issued.key_id))]
    confirm = await sync_to_async(browser.post)("/admin/keys/virtualkey/", selected)
    assert "1 live session it will close" in confirm  # the one on the other process
    started = time.monotonic()
    page = await sync_to_async(browser.post)(
        "/admin/keys/virtualkey/", [*selected, ("post", "yes")]
    )
    assert "Revoked 1 key" in page

    await expect_refusal(ws, code=4403, error_code="key_revoked")
    elapsed = time.monotonic() - started
    assert elapsed < (3 if USES_REDIS else 5)
    row = await wait_for_row(virtual_key_name=issued.name)
    assert (row.status, row.close_code) == ("finished", 4403)

    # And the key is refused on both processes from now on.
    for gateway in (first, second):
        ws = await open_client(gateway.ws_url, token=issued.token)
        await expect_refusal(ws, code=4403, error_code="key_revoked")
    await asyncio.sleep(0)


async def test_terminating_through_one_process_closes_a_session_on_another(
    two_gateways, fake_upstream, issue
):
    first, second = two_gateways
    issued = await issue(fake_upstream.url, name="terminated")
    await sync_to_async(User.objects.create_superuser)("ops2", "", "a-long-pass-phrase")
    ws = await open_client(second.ws_url, token=issued.token)
    assert (await receive_event(ws))["type"] == "session.created"
    spared = await open_client(second.ws_url, token=issued.token)
    assert (await receive_event(spared))["type"] == "session.created"
    rows = RealtimeSession.objects.filter(virtual_key_name=issued.name)
    chosen = await rows.order_by("started_at").afirst()
    assert chosen is not None

    browser = AdminBrowser(first.http_url)
    await sync_to_async(browser.post)(
        "/admin/login/?next=/admin/",
        [("username", "ops2"), ("password", "a-long-pass-phrase"), ("next", "/admin/")],
    )
    live = await sync_to_async(browser.get)("/admin/realtime/livesession/")
    assert str(chosen.id) in live  # listed by the process that does not run it
    started = time.monotonic()
    page = await sync_to_async(browser.post)(
        "/admin/realtime/livesession/",
        [
            ("action", "terminate_selected"),
            ("_selected_action", str(chosen.id)),
            ("post", "yes"),
        ],
    )
    assert "Terminating 1 session(s)" in page

    await expect_refusal(ws, code=4403, error_code="session_terminated")
    assert time.monotonic() - started < (3 if USES_REDIS else 5)
    row = await wait_for_row(pk=chosen.id)
    assert (row.status, row.close_code, row.end_reason) == (
        "finished", 4403, "session_terminated",
    )  # fmt: skip
    # Only the chosen session: the other one on the same process goes on.
    await spared.send(json.dumps({"type": "fake.echo", "n": 1}))
    assert (await receive_event(spared))["n"] == 1
    await spared.close()

"""Each provider's browser form in real headless Chromium, through real servers.

A browser cannot set headers, so it offers the key as a subprotocol, and it fails
a handshake that offered protocols and selected none (or one it did not offer).
Each case opens a WebSocket from a page (on the gateway's own origin) to a real
Daphne or uvicorn process, in front of the matching fake upstream, sends one
message and reads the reply in the page. The page must see the selected
protocol in `ws.protocol`; the upstream must see neither the key nor any
credential subprotocol; the gateway's log must not hold the key.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from realtime.testing import (
    FakeAzureRealtime,
    FakeCartesiaTTS,
    FakeElevenLabs,
    FakeGeminiLive,
    FakeRealtimeServer,
    LoopbackServer,
)
from tests.support import browser
from tests.support.browser import chromium_page, require_browser
from tests.support.events import USER_TEXT
from tests.support.keys import UPSTREAM_SECRET
from tests.support.processes import GatewayLauncher

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(60),
]

GEMINI_PATH = (
    "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
)
OPENAI_TURN = (json.dumps(USER_TEXT), json.dumps({"type": "response.create"}))
TTS_FORMAT = {"container": "raw", "encoding": "pcm_s16le", "sample_rate": 16000}
CARTESIA_REQUEST = {
    "model_id": "sonic-2",
    "transcript": "Hello from a browser.",
    "voice": {"mode": "id", "id": "a0e99841-438c-4a64-b679"},
    "context_id": "ctx-1",
    "output_format": TTS_FORMAT,
    "continue": False,
}


@dataclass(frozen=True)
class BrowserForm:
    """One provider's browser form: what the page offers and what it expects."""

    kind: str
    fake: Callable[[], LoopbackServer]
    path: str  # with its query
    protocols: tuple[str, ...]  # "{key}" stands for the virtual key
    selected: str  # the protocol the page must see in `ws.protocol`
    messages: tuple[str, ...]  # sent once open
    reply: str  # a substring of the reply the page waits for
    options: dict[str, Any] = field(default_factory=dict)  # the provider row's
    credential_header: str = "authorization"  # the upstream's, with the secret
    upstream: str = "url"  # the fake's attribute the provider row points at
    # The provider closes after its reply, so the page must not close too: a
    # close from both ends at once is a race the browser may see as 1006.
    server_closes: bool = False

    def offered(self, key: str) -> list[str]:
        return [p.format(key=key) for p in self.protocols]


FORMS = {
    # OpenAI's documented browser form (with "realtime"), and the key alone.
    "openai-realtime": BrowserForm(
        kind="openai",
        fake=lambda: FakeRealtimeServer(api_key=UPSTREAM_SECRET),
        path="/v1/realtime?model=gpt-realtime",
        protocols=("realtime", "openai-insecure-api-key.{key}"),
        selected="realtime",
        messages=OPENAI_TURN,
        reply='"response.done"',
    ),
    "openai-virtual-key-only": BrowserForm(
        kind="openai",
        fake=lambda: FakeRealtimeServer(api_key=UPSTREAM_SECRET),
        path="/v1/realtime?model=gpt-realtime",
        protocols=("x-portkey-virtual-key.{key}",),
        selected="x-portkey-virtual-key.{key}",
        messages=OPENAI_TURN,
        reply='"response.done"',
    ),
    # A non-secret protocol is echoed before a key.
    "openai-provider-slug": BrowserForm(
        kind="openai",
        fake=lambda: FakeRealtimeServer(api_key=UPSTREAM_SECRET),
        path="/v1/realtime?model=gpt-realtime",
        protocols=("x-portkey-virtual-key.{key}", "x-portkey-provider.browser"),
        selected="x-portkey-provider.browser",
        messages=OPENAI_TURN,
        reply='"response.done"',
    ),
    "azure": BrowserForm(
        kind="azure",
        fake=lambda: FakeAzureRealtime(api_key=UPSTREAM_SECRET, deployments=["rt"]),
        path="/openai/v1/realtime?model=gpt-realtime",
        protocols=("api-key.{key}",),
        selected="api-key.{key}",
        messages=OPENAI_TURN,
        reply='"response.done"',
        options={"api_style": "ga", "deployments": {"gpt-realtime": "rt"}},
        credential_header="api-key",
        upstream="base_url",
    ),
    # Cloudflare's convention: the provider's own key header as the protocol.
    "elevenlabs": BrowserForm(
        kind="elevenlabs",
        fake=lambda: FakeElevenLabs(api_key=UPSTREAM_SECRET),
        path="/v1/text-to-speech/voice123/stream-input"
        "?model_id=eleven_flash_v2_5&output_format=pcm_16000",
        protocols=("xi-api-key.{key}",),
        selected="xi-api-key.{key}",
        messages=tuple(json.dumps({"text": t}) for t in (" ", "Hello there. ", "")),
        reply='"isFinal":true',
        credential_header="xi-api-key",
        server_closes=True,
    ),
    "cartesia": BrowserForm(
        kind="cartesia",
        fake=lambda: FakeCartesiaTTS(api_key=UPSTREAM_SECRET),
        path="/tts/websocket?cartesia_version=2025-04-16",
        protocols=("x-api-key.{key}",),
        selected="x-api-key.{key}",
        messages=(json.dumps(CARTESIA_REQUEST),),
        reply='"type":"done"',
        credential_header="x-api-key",
    ),
    "gemini": BrowserForm(
        kind="google",
        fake=lambda: FakeGeminiLive(api_key=UPSTREAM_SECRET),
        path=GEMINI_PATH,
        protocols=("x-goog-api-key.{key}",),
        selected="x-goog-api-key.{key}",
        messages=(
            json.dumps(
                {
                    "setup": {
                        "model": "models/gemini-live-2.5-flash-preview",
                        "generationConfig": {"responseModalities": ["TEXT"]},
                    }
                }
            ),
        ),
        reply="setupComplete",
        credential_header="x-goog-api-key",
    ),
}


@pytest.fixture(scope="module")
def uvicorn(gateway_env, tmp_path_factory):
    """One real uvicorn process for this module."""
    require_browser()  # before paying for a process
    log_dir = tmp_path_factory.mktemp("uvicorn")
    with GatewayLauncher(gateway_env, log_dir=log_dir) as launcher:
        yield launcher.start(server="uvicorn")


@pytest.fixture(params=["daphne", "uvicorn"])
def gateway(request):
    """A real gateway process of each server."""
    require_browser()
    return request.getfixturevalue(request.param)


@pytest.mark.parametrize("form", FORMS.values(), ids=FORMS.keys())
async def test_a_browser_connects_with_the_providers_browser_form(gateway, issue, form):
    async with form.fake() as fake:
        issued = await issue(
            getattr(fake, form.upstream),
            kind=form.kind,
            slug="browser",
            options=form.options,
        )
        async with chromium_page(gateway.http_url) as page:
            seen = await page.open_socket(
                f"ws://127.0.0.1:{gateway.port}{form.path}",
                form.offered(issued.token),
                messages=form.messages,
                until="" if form.server_closes else form.reply,
            )
        handshakes = fake.handshakes
    assert seen.opened and not seen.errored, seen
    assert seen.protocol == form.selected.format(key=issued.token)
    assert any(form.reply in message for message in seen.messages), seen.messages
    assert seen.close_code == 1000
    # Upstream: the provider's own credential, and nothing the browser offered.
    assert len(handshakes) == 1
    assert handshakes[0].subprotocols == ()
    assert handshakes[0].header(form.credential_header) is not None
    assert issued.token not in repr(handshakes[0])
    assert issued.token not in gateway.log()


async def test_a_browser_refused_with_only_a_credential_protocol_reads_why(
    daphne, issue
):
    """Refused (bad key): the handshake still completes with the echoed
    protocol, so the page reads the error event and the close code."""
    bad_key = "vk_" + "z" * 43
    async with FakeRealtimeServer(api_key=UPSTREAM_SECRET) as fake:
        await issue(fake.url)
        async with chromium_page(daphne.http_url) as page:
            seen = await page.open_socket(
                f"{daphne.ws_url}?model=gpt-realtime",
                [f"x-portkey-virtual-key.{bad_key}"],
            )
        assert fake.handshakes == []
    assert seen.opened and seen.protocol == f"x-portkey-virtual-key.{bad_key}"
    error = json.loads(seen.messages[0])
    assert (error["type"], error["error"]["code"]) == ("error", "invalid_api_key")
    # Daphne has been seen (about once in twenty full runs, under load) to
    # drop the close frame of a connection it accepts and closes at once: the
    # page then sees 1006. Not understood yet; what the page needs, the error
    # event, arrived either way (asserted above).
    assert seen.close_code in (4401, 1006)
    assert bad_key not in daphne.log()


async def test_a_verbose_daphne_logs_no_echoed_credential(gateway_process, issue):
    """At Daphne's most verbose (Twisted's log to stdlib, asyncio debug), the
    key a browser offered and the gateway echoed is in no log line."""
    gateway = gateway_process(server="daphne", extra_args=("--verbosity", "3"))
    form = FORMS["openai-virtual-key-only"]
    async with form.fake() as fake:
        issued = await issue(fake.url)
        async with chromium_page(gateway.http_url) as page:
            seen = await page.open_socket(
                f"ws://127.0.0.1:{gateway.port}{form.path}",
                form.offered(issued.token),
                messages=form.messages,
                until=form.reply,
            )
    assert seen.protocol == form.selected.format(key=issued.token)
    gateway.stop()
    log = gateway.log()
    assert "bridging to" in log  # the log is being written
    assert issued.token not in log


@pytest.mark.parametrize(("required", "outcome"), [("1", "fail"), ("", "skip")])
def test_without_chromium_the_browser_tests_skip_unless_required(
    monkeypatch, tmp_path, required, outcome
):
    monkeypatch.setattr(browser, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.setenv("GATEWAY_REQUIRE_BROWSER", required)
    expected = pytest.fail.Exception if outcome == "fail" else pytest.skip.Exception
    with pytest.raises(expected, match="no-chromium is absent"):
        require_browser()

"""Real headless Chromium (Debian's `chromium`), driven by Playwright.

Never a browser download: Playwright launches `/usr/bin/chromium`. Without it
the browser tests skip with the reason, unless `GATEWAY_REQUIRE_BROWSER=1` (CI
sets it), where they fail instead, so a missing browser is never a silent pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import os
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# --no-sandbox: CI and containers run as root, where Chromium's sandbox refuses.
CHROMIUM_ARGS = ("--no-sandbox", "--no-proxy-server")

# Opens a WebSocket the way a web page does, sends `messages` once open, and
# settles on the close with what the page saw. Closes itself (1000) after a
# message holding `until`. Binary frames are read as UTF-8 text.
_OPEN_SOCKET_JS = """
({url, protocols, messages, until}) => new Promise((resolve) => {
  const seen = {opened: false, protocol: null, messages: [], errored: false,
                closeCode: null};
  const ws = new WebSocket(url, protocols);
  ws.binaryType = "arraybuffer";
  ws.onopen = () => {
    seen.opened = true;
    seen.protocol = ws.protocol;
    for (const message of messages) ws.send(message);
  };
  ws.onmessage = (event) => {
    const text = typeof event.data === "string"
      ? event.data : new TextDecoder().decode(event.data);
    seen.messages.push(text);
    if (until && text.includes(until)) ws.close(1000);
  };
  ws.onerror = () => { seen.errored = true; };
  ws.onclose = (event) => { seen.closeCode = event.code; resolve(seen); };
})
"""


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is absent (apt-get install chromium)"
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -r requirements-dev.txt)"
    return None


def require_browser() -> None:
    """Skip (or, with GATEWAY_REQUIRE_BROWSER=1, fail) without a browser."""
    reason = browser_missing()
    if reason is None:
        return
    if os.environ.get("GATEWAY_REQUIRE_BROWSER") == "1":
        pytest.fail(f"GATEWAY_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@dataclass(frozen=True)
class PageSocket:
    """What a page saw of one WebSocket, from `new WebSocket` to its close."""

    opened: bool
    protocol: str | None  # `ws.protocol`: the subprotocol the server selected
    messages: list[str]
    errored: bool
    close_code: int | None


class Page:
    """One browser page, on an origin of the gateway's (its /healthz)."""

    def __init__(self, page: Any) -> None:
        self._page = page

    async def evaluate(self, script: str, arg: Any) -> Any:
        """Run `script` (a function of `arg`) in the page; what it returns."""
        return await self._page.evaluate(script, arg)

    async def open_socket(
        self,
        url: str,
        protocols: list[str],
        *,
        messages: tuple[str, ...] = (),
        until: str = "",
        timeout: float = 20,
    ) -> PageSocket:
        """Open `url` offering `protocols`; wait (bounded) for it to close."""
        async with asyncio.timeout(timeout):
            seen = await self._page.evaluate(
                _OPEN_SOCKET_JS,
                {
                    "url": url,
                    "protocols": protocols,
                    "messages": list(messages),
                    "until": until,
                },
            )
        return PageSocket(
            opened=seen["opened"],
            protocol=seen["protocol"],
            messages=seen["messages"],
            errored=seen["errored"],
            close_code=seen["closeCode"],
        )


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """A headless Chromium (Playwright's `Browser`); closed on exit."""
    require_browser()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS)
        )
        try:
            yield browser
        finally:
            await browser.close()


@contextlib.asynccontextmanager
async def chromium_page(origin: str) -> AsyncIterator[Page]:
    """A headless Chromium page at `origin` + /healthz; closed on exit."""
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(f"{origin}/healthz", timeout=10_000)
        yield Page(page)


@contextlib.asynccontextmanager
async def chromium_window(*, width: int, height: int) -> AsyncIterator[Any]:
    """A headless Chromium page (Playwright's own) with a window of this size;
    closed on exit. For pages looked at as a person sees them (the admin)."""
    require_browser()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS)
        )
        try:
            yield await browser.new_page(viewport={"width": width, "height": height})
        finally:
            await browser.close()


class _BlankPage(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!doctype html><title>page</title>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet


@contextlib.contextmanager
def page_origin() -> Iterator[str]:
    """Another origin on the loopback (a blank page at every path), for pages
    that call the gateway cross-origin; its `http://127.0.0.1:port`."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _BlankPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)

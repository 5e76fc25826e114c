"""One HTTP request to a provider's REST endpoint, on the event loop.

WebRTC calls need two REST requests of the provider (create the call with the
SDP offer, hang it up), made from the gateway's event loop: a blocking client
would stall every session of the process. This is HTTP/1.1 over asyncio
streams with `h11` (the HTTP/1.1 state machine uvicorn runs on) doing the
framing: one request a connection, the whole exchange under one timeout, the
answer's body capped, redirects never followed (a provider key must not go to
whatever host a 3xx names, as in `realtime.upstream`). Every failure is mapped
into the gateway's own errors at this boundary.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

import h11

from realtime.exceptions import UpstreamTimeout, UpstreamUnavailable
from realtime.upstream import USER_AGENT

# An SDP answer is a few kilobytes; an error body less.
MAX_BODY_BYTES = 256 * 1024
_READ_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """A provider's answer: status, headers (lower-case names), body."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str:
        """The first value of `name` (case-insensitive), or ''."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key == wanted), "")


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """A request to send: its headers may hold the credential, so the repr
    names them only."""

    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""
    content_type: str = ""

    def __repr__(self) -> str:
        names = ", ".join(name for name, _ in self.headers)
        return f"HttpRequest(url={self.url!r}, headers=[{names}] (values hidden))"


async def post(request: HttpRequest, *, timeout: float) -> HttpAnswer:
    """POST `request`; the answer, whatever its status. UpstreamTimeout when
    the exchange takes over `timeout` s, UpstreamUnavailable when the provider
    cannot be reached or answers something that is not HTTP."""
    parts = urlsplit(request.url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UpstreamUnavailable("The provider's URL is not an HTTP URL.")
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(
                parts.hostname,
                parts.port or (443 if parts.scheme == "https" else 80),
                ssl=ssl.create_default_context() if parts.scheme == "https" else None,
            )
            return await _exchange(reader, writer, request)
    except TimeoutError:
        raise UpstreamTimeout(
            f"The provider did not answer within {timeout:g} s."
        ) from None
    except (OSError, h11.ProtocolError) as exc:
        raise UpstreamUnavailable("The provider could not be reached.") from exc
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, asyncio.CancelledError, TimeoutError):
                async with asyncio.timeout(1.0):
                    await writer.wait_closed()


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: HttpRequest
) -> HttpAnswer:
    parts = urlsplit(request.url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = [
        ("Host", parts.netloc),
        ("User-Agent", USER_AGENT),
        ("Content-Length", str(len(request.body))),
        ("Connection", "close"),
        *request.headers,
    ]
    if request.content_type:
        headers.append(("Content-Type", request.content_type))
    connection = h11.Connection(our_role=h11.CLIENT)
    writer.write(
        connection.send(h11.Request(method="POST", target=target, headers=headers))
        or b""
    )
    writer.write(connection.send(h11.Data(data=request.body)) or b"")
    writer.write(connection.send(h11.EndOfMessage()) or b"")
    await writer.drain()
    status, body = 0, bytearray()
    answer_headers: tuple[tuple[str, str], ...] = ()
    while True:
        event = connection.next_event()
        if event is h11.NEED_DATA:
            connection.receive_data(await reader.read(_READ_CHUNK))
        elif isinstance(event, h11.Response):
            status = event.status_code
            answer_headers = tuple(
                (name.decode("latin-1").lower(), value.decode("latin-1"))
                for name, value in event.headers
            )
        elif isinstance(event, h11.Data):
            body += event.data
            if len(body) > MAX_BODY_BYTES:
                raise UpstreamUnavailable(
                    "The provider's answer is too large.", code="upstream_refused"
                )
        elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
            if not status:
                raise UpstreamUnavailable("The provider closed without answering.")
            return HttpAnswer(status=status, headers=answer_headers, body=bytes(body))

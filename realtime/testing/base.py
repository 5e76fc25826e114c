"""The loopback-server base every fake upstream stands on.

A fake is a ``websockets`` server on ``127.0.0.1`` (port 0 by default) and an
async context manager. It records every opening handshake (a :class:`Handshake`)
and how every connection closed, then hands each accepted connection to its
protocol logic. Most fakes keep that logic in one :class:`Session` per
connection, which turns a client frame into replies (events, or a
:class:`Close`) and does no I/O; :class:`LoopbackServer` owns the sockets.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

from websockets.asyncio.server import Server, ServerConnection
from websockets.asyncio.server import serve as websockets_serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

__all__ = ["Close", "Handshake", "LoopbackServer", "Reply", "Session"]

Event = dict[str, Any]

MAX_CLOSE_REASON_BYTES = 123  # a close frame's payload is capped at 125 bytes
DEFAULT_MAX_SIZE = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Handshake:
    """What a client sent in its opening handshake."""

    path: str
    query: dict[str, str]  # the last value of each name; see query_items
    headers: tuple[tuple[str, str], ...]
    subprotocols: tuple[str, ...]
    query_items: tuple[tuple[str, str], ...] = ()  # every parameter, in order

    def header(self, name: str) -> str | None:
        """Return the first value of a header, looked up case-insensitively."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key == wanted), None)

    def query_names(self) -> list[str]:
        """Every query parameter's name, in order, repeats included."""
        return [name for name, _ in self.query_items]

    @classmethod
    def from_request(cls, request: Request) -> Handshake:
        """Build a record from a websockets request."""
        url = urlsplit(request.path)
        offered = ",".join(request.headers.get_all("Sec-WebSocket-Protocol"))
        items = tuple(parse_qsl(url.query, keep_blank_values=True))
        return cls(
            path=url.path,
            query=dict(items),
            headers=tuple((k.lower(), v) for k, v in request.headers.raw_items()),
            subprotocols=tuple(p.strip() for p in offered.split(",") if p.strip()),
            query_items=items,
        )

    @property
    def wants_beta(self) -> bool:
        """Whether the client asked for OpenAI's retired beta shape."""
        return any(
            token.strip().lower() == "realtime=v1"
            for key, value in self.headers
            if key == "openai-beta"
            for token in value.split(",")
        )


@dataclass(frozen=True, slots=True)
class Close:
    """A reply that closes the connection with ``code`` and ``reason``."""

    code: int
    reason: str = ""

    def __post_init__(self) -> None:
        reason = self.reason.encode()[:MAX_CLOSE_REASON_BYTES]
        object.__setattr__(self, "reason", reason.decode(errors="ignore"))


Reply = Event | Close


class Session:
    """One connection's protocol logic: client frames in, replies out, no I/O."""

    idle_timeout: float | None = None

    def opening(self) -> list[Reply]:
        """Replies sent as soon as the connection opens."""
        return []

    def receive(self, message: str | bytes) -> list[Reply]:
        """Answer one client frame."""
        raise NotImplementedError

    def idle(self) -> list[Reply]:
        """Answer ``idle_timeout`` seconds without a client frame."""
        return []


class Discarded(list):
    """A record that keeps nothing appended to it (`forget_records`)."""

    def append(self, item: Any) -> None:
        """Keep nothing."""


class LoopbackServer:
    """Listening, handshake records, close records: what every fake shares."""

    path = "/"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        max_size: int = DEFAULT_MAX_SIZE,
    ) -> None:
        self._host = host
        self._port = port
        self._max_size = max_size
        self._server: Server | None = None
        self._stopping = asyncio.Event()
        self._connections: set[ServerConnection] = set()
        self._closed_changed = asyncio.Condition()
        self.handshakes: list[Handshake] = []
        self.closed: list[tuple[int | None, str]] = []
        self.keep_records = True  # see `forget_records`

    async def start(self) -> None:
        """Start listening."""
        if self._server is not None:
            raise RuntimeError("the fake is already started")
        self._server = await websockets_serve(
            self._handle,
            self._host,
            self._port,
            process_request=self._process_request,
            max_size=self._max_size,
            ping_interval=None,
            **self._serve_options(),
        )

    async def stop(self) -> None:
        """Close every live connection (1001), then the listening socket."""
        if self._server is None:
            return
        # Close first, so a handshake woken from a delay is refused with 503.
        self._server.close(close_connections=True)
        self._stopping.set()
        await self._server.wait_closed()

    def forget_records(self) -> None:
        """Keep nothing of past connections (tests read the records): for a
        fake that serves as long as it runs (`manage.py fake_upstream`, the
        bench's upstream for hundreds of thousands of sessions), whose heap,
        and its collector's pauses, would grow with each one."""
        self.keep_records = False

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        """The bound port (the requested one before start)."""
        if self._server is None:
            return self._port
        return self._server.sockets[0].getsockname()[1]

    @property
    def base_url(self) -> str:
        """``ws://host:port`` with no path."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"ws://{host}:{self.port}"

    @property
    def url(self) -> str:
        """The provider's endpoint on this fake."""
        return self.base_url + self.path

    @property
    def open_connections(self) -> int:
        """How many clients are connected right now."""
        return len(self._connections)

    async def wait_closed_count(self, n: int, timeout: float = 5.0) -> None:
        """Wait until ``n`` connections have finished; raise TimeoutError after."""
        async with asyncio.timeout(timeout), self._closed_changed:
            await self._closed_changed.wait_for(lambda: len(self.closed) >= n)

    # Hooks for the fakes.

    def _serve_options(self) -> dict[str, Any]:
        """Extra keyword arguments for ``websockets.serve``."""
        return {}

    async def _refuse(
        self, connection: ServerConnection, handshake: Handshake
    ) -> Response | None:
        """Return an HTTP response to refuse the handshake, or None to accept."""
        return None

    def _session(self, handshake: Handshake) -> Session:
        """The protocol logic of one accepted connection."""
        raise NotImplementedError

    def _encode(self, event: Event) -> str | bytes:
        """Render an event as a frame."""
        return json.dumps(event, separators=(",", ":"))

    async def _converse(
        self, connection: ServerConnection, handshake: Handshake
    ) -> None:
        """Talk to one client until either side closes."""
        session = self._session(handshake)
        with contextlib.suppress(ConnectionClosed):  # the client left
            replies = session.opening()
            while await self._emit(connection, replies):
                try:
                    async with asyncio.timeout(session.idle_timeout):
                        message = await connection.recv()
                except TimeoutError:
                    replies = session.idle()
                else:
                    replies = session.receive(message)

    # The shell.

    async def _process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        handshake = Handshake.from_request(request)
        if self.keep_records:
            self.handshakes.append(handshake)
        return await self._refuse(connection, handshake)

    async def _handle(self, connection: ServerConnection) -> None:
        assert connection.request is not None  # set once the handshake succeeded
        handshake = Handshake.from_request(connection.request)
        self._connections.add(connection)
        try:
            await self._converse(connection, handshake)
            await connection.wait_closed()
        finally:
            self._connections.discard(connection)
            received = connection.protocol.close_rcvd
            if self.keep_records:
                self.closed.append(
                    (None, "") if received is None else (received.code, received.reason)
                )
            async with self._closed_changed:
                self._closed_changed.notify_all()

    async def _emit(self, connection: ServerConnection, replies: list[Reply]) -> bool:
        """Send replies; return False once one of them closed the connection."""
        for reply in replies:
            if isinstance(reply, Close):
                await connection.close(reply.code, reply.reason)
                return False
            await connection.send(self._encode(reply))
        return True


# Small helpers the fakes share.


def json_response(connection: ServerConnection, status: int, body: Event) -> Response:
    """An HTTP response refusing a handshake with a JSON body."""
    response = connection.respond(status, json.dumps(body))
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = "application/json"
    return response


def json_object(message: str | bytes) -> Event | None:
    """Decode a frame holding a JSON object, or return None."""
    try:
        decoded = json.loads(message)
    except ValueError:  # also covers bytes that are not UTF-8
        return None
    return decoded if isinstance(decoded, dict) else None


def matches(given: str | None, expected: str) -> bool:
    """Compare a presented secret with the expected one in constant time."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def read_field(obj: Any, name: str) -> Any:
    """Read a camelCase field, also accepting its snake_case spelling."""
    if not isinstance(obj, dict):
        return None
    if name in obj:
        return obj[name]
    return obj.get(re.sub(r"([A-Z])", r"_\1", name).lower())


def b64(data: bytes) -> str:
    """Base64 text of some bytes."""
    return base64.b64encode(data).decode("ascii")


def b64decode(value: Any) -> bytes | None:
    """The bytes of a base64 string, or None if it is not one."""
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        return None


def words(text: str) -> list[str]:
    """Split text into chunks that concatenate back to it, one word each."""
    return re.findall(r"\s*\S+", text)

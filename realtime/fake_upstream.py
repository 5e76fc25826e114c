"""A loopback fake of OpenAI's Realtime API (the GA interface) for demos and tests.

It speaks the GA event shapes (``session.created``, ``conversation.item.added``,
``response.output_text.delta``, ``response.done`` with GA usage, ...) and rejects
the retired beta shape the way the real upstream does. Everything is
deterministic: ids are per-connection counters and usage follows the formula in
:class:`FakeUsage`.

Scripting hooks (not part of OpenAI's API; client events the fake understands):

- ``{"type": "fake.echo", ...}``: the same text frame is sent back byte for byte.
- any binary frame: echoed back unchanged.
- ``{"type": "fake.close", "code": N, "reason": "..."}``: close with that code.
- ``{"type": "fake.abort"}``: drop TCP without a close frame.
- ``{"type": "fake.flood", "count": N, "size": S}``: send N text frames
  ``{"type": "fake.flood", "seq": i, "pad": "xx..."}`` of about S bytes each.
- ``{"type": "fake.freeze", "seconds": X}``: stop reading the socket (pings go
  unanswered: a hung provider), then drop the connection after X s (default 3).
- ``{"type": "fake.garbage"}``: write a frame with a reserved opcode.
- ``{"type": "fake.sleep", "seconds": X}``: stop reading for X seconds (a stall;
  websockets buffers ``max_queue`` frames, then TCP backpressure applies).

Server-level knobs (``reject_status``, ``handshake_delay``, ``api_key``) script
the handshake. The protocol logic (:class:`_Conversation`) does no I/O.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import http
import itertools
import json
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

from websockets.asyncio.server import Server, ServerConnection
from websockets.asyncio.server import serve as websockets_serve
from websockets.exceptions import ConnectionClosed, ProtocolError
from websockets.frames import Close, CloseCode
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

__all__ = ["FakeRealtimeServer", "FakeUsage", "Handshake", "serve"]

logger = logging.getLogger(__name__)

Event = dict[str, Any]

REALTIME_PATH = "/v1/realtime"
REALTIME_SUBPROTOCOL = Subprotocol("realtime")
DEFAULT_MODEL = "gpt-realtime"
DEFAULT_REPLY = "Hello from the fake realtime upstream."
BETA_CLOSE_REASON = "beta_api_shape_disabled"
AUDIO_CHUNK = bytes(4800)  # 100 ms of 24 kHz 16-bit mono silence
AUDIO_CHUNKS = 3
AUDIO_TOKENS_PER_CHUNK = 10
AUDIO_BYTES_PER_TOKEN = 800
MAX_CLOSE_REASON_BYTES = 123  # a close frame's payload is capped at 125 bytes

INVALID_API_KEY_ERROR = {
    "type": "invalid_request_error",
    "code": "invalid_api_key",
    "message": "Incorrect API key provided.",
}


@dataclass(frozen=True, slots=True)
class Handshake:
    """What a client sent in its opening handshake."""

    path: str
    query: dict[str, str]
    headers: tuple[tuple[str, str], ...]
    subprotocols: tuple[str, ...]

    def header(self, name: str) -> str | None:
        """Return the first value of a header, looked up case-insensitively."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key == wanted), None)

    @classmethod
    def from_request(cls, request: Request) -> Handshake:
        """Build a record from a websockets request."""
        url = urlsplit(request.path)
        offered = ",".join(request.headers.get_all("Sec-WebSocket-Protocol"))
        return cls(
            path=url.path,
            query=dict(parse_qsl(url.query, keep_blank_values=True)),
            headers=tuple((k.lower(), v) for k, v in request.headers.raw_items()),
            subprotocols=tuple(p.strip() for p in offered.split(",") if p.strip()),
        )

    @property
    def wants_beta(self) -> bool:
        """Whether the client asked for the retired beta shape."""
        return any(
            token.strip().lower() == "realtime=v1"
            for key, value in self.headers
            if key == "openai-beta"
            for token in value.split(",")
        )


@dataclass(frozen=True, slots=True)
class FakeUsage:
    """Deterministic usage of one response, in the GA ``usage`` shape.

    - ``input_text = max(1, W)``: W is the number of whitespace-separated words in
      every user ``input_text`` part added by ``conversation.item.create`` since
      the previous ``response.create`` (or since the connection opened).
    - ``input_audio = B // 800``: B is the number of decoded bytes appended with
      ``input_audio_buffer.append`` since the previous ``response.create``.
    - ``cached = 0`` for a connection's first response, else
      ``min(P // 2, input_text)`` where P is the previous response's input_text.
    - ``output_text`` = words in the reply text in text mode, else 0.
    - ``output_audio = 3 chunks * 10 = 30`` in audio mode, else 0.
    - ``input_tokens = input_text + input_audio``,
      ``output_tokens = output_text + output_audio``,
      ``total_tokens = input_tokens + output_tokens``.
    """

    input_text: int
    input_audio: int
    cached: int
    output_text: int
    output_audio: int

    def as_event_field(self) -> Event:
        """Render the GA ``response.usage`` object."""
        input_tokens = self.input_text + self.input_audio
        output_tokens = self.output_text + self.output_audio
        return {
            "total_tokens": input_tokens + output_tokens,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "input_token_details": {
                "text_tokens": self.input_text,
                "audio_tokens": self.input_audio,
                "image_tokens": 0,
                "cached_tokens": self.cached,
                "cached_tokens_details": {
                    "text_tokens": self.cached,
                    "audio_tokens": 0,
                    "image_tokens": 0,
                },
            },
            "output_token_details": {
                "text_tokens": self.output_text,
                "audio_tokens": self.output_audio,
            },
        }


class BadClientEvent(Exception):
    """A client frame that is not a usable event; becomes an ``error`` event."""

    def __init__(self, code: str, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param


def parse_client_event(text: str) -> Event:
    """Decode a text frame into a client event or raise :class:`BadClientEvent`."""
    try:
        event = json.loads(text)
    except ValueError as exc:
        raise BadClientEvent("invalid_json", "The frame is not valid JSON.") from exc
    if not isinstance(event, dict):
        raise BadClientEvent("invalid_json", "A client event must be a JSON object.")
    if not isinstance(event.get("type"), str):
        raise BadClientEvent("missing_type", "The event has no 'type' string.")
    return event


def _words(text: str) -> list[str]:
    """Split text into chunks that concatenate back to it, one word each."""
    return re.findall(r"\s*\S+", text)


class _Conversation:
    """One connection's state machine: client events in, server events out."""

    def __init__(self, *, number: int, model: str) -> None:
        self._counters: dict[str, itertools.count[int]] = {}
        self._conversation_id = f"conv_{number:04d}"
        self.session: Event = {
            "type": "realtime",
            "object": "realtime.session",
            "id": f"sess_{number:04d}",
            "model": model,
            "output_modalities": ["text"],
            "instructions": "",
            "audio": {
                "input": {"format": {"type": "audio/pcm", "rate": 24000}},
                "output": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "voice": "alloy",
                },
            },
        }
        self._last_item_id: str | None = None
        self._last_user_text: str | None = None
        self._pending_words = 0
        self._pending_audio_bytes = 0
        self._previous_input_text: int | None = None
        self._handlers = {
            "session.update": self._session_update,
            "conversation.item.create": self._item_create,
            "input_audio_buffer.append": self._audio_append,
            "input_audio_buffer.commit": self._audio_commit,
            "input_audio_buffer.clear": self._audio_clear,
            "response.create": self._response_create,
        }

    def _next_id(self, prefix: str) -> str:
        counter = self._counters.setdefault(prefix, itertools.count(1))
        return f"{prefix}_{next(counter):04d}"

    def emit(self, kind: str, **fields: Any) -> Event:
        """Build a server event with the next event id."""
        return {"type": kind, "event_id": self._next_id("event"), **fields}

    def error(
        self,
        code: str,
        message: str,
        *,
        event_id: Any = None,
        param: str | None = None,
    ) -> Event:
        """Build an OpenAI-style ``error`` event."""
        details = {"type": "invalid_request_error", "code": code, "message": message}
        return self.emit(
            "error", error={**details, "param": param, "event_id": event_id}
        )

    def created(self) -> Event:
        """The ``session.created`` event sent when a connection opens."""
        return self.emit("session.created", session=self.session)

    def beta_rejected(self) -> Event:
        """The error the real upstream sends to beta-shaped clients."""
        return self.error(
            BETA_CLOSE_REASON,
            "The beta Realtime interface (OpenAI-Beta: realtime=v1) is retired; "
            "use the GA interface.",
        )

    def handle(self, event: Event) -> list[Event]:
        """Answer one client event."""
        handler = self._handlers.get(event["type"])
        if handler is None:
            logger.debug("unknown client event type")
            return [
                self.error(
                    "unknown_event",
                    f"Unknown event type '{event['type']}'.",
                    event_id=event.get("event_id"),
                )
            ]
        try:
            return handler(event)
        except BadClientEvent as exc:
            logger.debug("invalid client event: %s", exc.code)
            return [
                self.error(
                    exc.code,
                    exc.message,
                    event_id=event.get("event_id"),
                    param=exc.param,
                )
            ]

    def _session_update(self, event: Event) -> list[Event]:
        update = event.get("session")
        if not isinstance(update, dict):
            raise BadClientEvent(
                "invalid_value", "Expected an object.", param="session"
            )
        self.session.update(update)
        return [self.emit("session.updated", session=self.session)]

    def _item_create(self, event: Event) -> list[Event]:
        item = event.get("item")
        if not isinstance(item, dict):
            raise BadClientEvent("invalid_value", "Expected an object.", param="item")
        if not isinstance(item.get("id"), str):
            item = {**item, "id": self._next_id("item")}
        item = {**item, "object": "realtime.item", "status": "completed"}
        self._remember_user_text(item)
        previous = event.get("previous_item_id", self._last_item_id)
        self._last_item_id = item["id"]
        return [
            self.emit("conversation.item.added", previous_item_id=previous, item=item),
            self.emit("conversation.item.done", previous_item_id=previous, item=item),
        ]

    def _remember_user_text(self, item: Event) -> None:
        content = item.get("content")
        if item.get("role") != "user" or not isinstance(content, list):
            return
        for part in content:
            if isinstance(part, dict) and part.get("type") == "input_text":
                text = part.get("text")
                if isinstance(text, str):
                    self._last_user_text = text
                    self._pending_words += len(text.split())

    def _audio_append(self, event: Event) -> list[Event]:
        audio = event.get("audio")
        try:
            size = len(base64.b64decode(audio, validate=True))
        except (TypeError, ValueError, binascii.Error) as exc:
            raise BadClientEvent(
                "invalid_value", "Expected base64-encoded audio.", param="audio"
            ) from exc
        self._pending_audio_bytes += size
        return []

    def _audio_commit(self, event: Event) -> list[Event]:
        item_id = self._next_id("item")
        previous, self._last_item_id = self._last_item_id, item_id
        item = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "status": "completed",
            "role": "user",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        return [
            self.emit(
                "input_audio_buffer.committed",
                previous_item_id=previous,
                item_id=item_id,
            ),
            self.emit("conversation.item.added", previous_item_id=previous, item=item),
        ]

    def _audio_clear(self, event: Event) -> list[Event]:
        return [self.emit("input_audio_buffer.cleared")]

    def _response_create(self, event: Event) -> list[Event]:
        params = event.get("response", {})
        if not isinstance(params, dict):
            raise BadClientEvent(
                "invalid_value", "Expected an object.", param="response"
            )
        modalities = params.get("output_modalities", self.session["output_modalities"])
        audio = isinstance(modalities, list) and "audio" in modalities
        user_text = (self._last_user_text or "").strip()
        reply = f"You said: {user_text}" if user_text else DEFAULT_REPLY
        usage = self._take_usage(reply, audio=audio)
        return _ResponseScript(
            conversation=self,
            response_id=self._next_id("resp"),
            item_id=self._next_id("item"),
            reply=reply,
            audio=audio,
        ).events(usage)

    def _take_usage(self, reply: str, *, audio: bool) -> FakeUsage:
        """Charge what arrived since the previous response, then reset."""
        input_text = max(1, self._pending_words)
        previous = self._previous_input_text
        usage = FakeUsage(
            input_text=input_text,
            input_audio=self._pending_audio_bytes // AUDIO_BYTES_PER_TOKEN,
            cached=0 if previous is None else min(previous // 2, input_text),
            output_text=0 if audio else len(reply.split()),
            output_audio=AUDIO_CHUNKS * AUDIO_TOKENS_PER_CHUNK if audio else 0,
        )
        self._previous_input_text = input_text
        self._pending_words = 0
        self._pending_audio_bytes = 0
        return usage

    @property
    def conversation_id(self) -> str:
        """The id of the connection's default conversation."""
        return self._conversation_id

    def added_item(self, item_id: str) -> None:
        """Record an assistant item as the newest in the conversation."""
        self._last_item_id = item_id


@dataclass(frozen=True, slots=True)
class _ResponseScript:
    """The GA event sequence of one response."""

    conversation: _Conversation
    response_id: str
    item_id: str
    reply: str
    audio: bool

    def _item_ids(self) -> Event:
        return {"response_id": self.response_id, "output_index": 0}

    def _ids(self) -> Event:
        return {**self._item_ids(), "item_id": self.item_id, "content_index": 0}

    def _response(self, status: str, output: list[Event], usage: Event | None) -> Event:
        return {
            "object": "realtime.response",
            "id": self.response_id,
            "status": status,
            "status_details": None,
            "conversation_id": self.conversation.conversation_id,
            "output_modalities": ["audio" if self.audio else "text"],
            "output": output,
            "usage": usage,
        }

    def _item(self, status: str, content: list[Event]) -> Event:
        return {
            "id": self.item_id,
            "object": "realtime.item",
            "type": "message",
            "status": status,
            "role": "assistant",
            "content": content,
        }

    def events(self, usage: FakeUsage) -> list[Event]:
        """Every event of the response, ``response.created`` to ``response.done``."""
        emit = self.conversation.emit
        if self.audio:
            part = {"type": "audio", "transcript": ""}
            done_part = {"type": "audio", "transcript": self.reply}
            content = {"type": "output_audio", "transcript": self.reply}
            body = self._audio_events()
        else:
            part = {"type": "text", "text": ""}
            done_part = {"type": "text", "text": self.reply}
            content = {"type": "output_text", "text": self.reply}
            body = self._text_events()
        item = self._item("completed", [content])
        ids = self._item_ids()
        events = [
            emit("response.created", response=self._response("in_progress", [], None)),
            emit(
                "response.output_item.added",
                **ids,
                item=self._item("in_progress", []),
            ),
            emit("response.content_part.added", **self._ids(), part=part),
            *body,
            emit("response.content_part.done", **self._ids(), part=done_part),
            emit("response.output_item.done", **ids, item=item),
            emit(
                "response.done",
                response=self._response("completed", [item], usage.as_event_field()),
            ),
        ]
        self.conversation.added_item(self.item_id)
        return events

    def _text_events(self) -> list[Event]:
        emit = self.conversation.emit
        deltas = [
            emit("response.output_text.delta", **self._ids(), delta=chunk)
            for chunk in _words(self.reply)
        ]
        return [
            *deltas,
            emit("response.output_text.done", **self._ids(), text=self.reply),
        ]

    def _audio_events(self) -> list[Event]:
        emit = self.conversation.emit
        chunk = base64.b64encode(AUDIO_CHUNK).decode("ascii")
        audio = [
            emit("response.output_audio.delta", **self._ids(), delta=chunk)
            for _ in range(AUDIO_CHUNKS)
        ]
        transcript = [
            emit("response.output_audio_transcript.delta", **self._ids(), delta=word)
            for word in _words(self.reply)
        ]
        return [
            *audio,
            *transcript,
            emit(
                "response.output_audio_transcript.done",
                **self._ids(),
                transcript=self.reply,
            ),
            emit("response.output_audio.done", **self._ids()),
        ]


def _int_field(event: Event, name: str, *, minimum: int) -> int:
    value = event.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise BadClientEvent(
            "invalid_value", f"Expected an integer >= {minimum}.", param=name
        )
    return value


def _flood_frame(seq: int, size: int) -> str:
    head = f'{{"type":"fake.flood","seq":{seq},"pad":"'
    return head + "x" * max(0, size - len(head) - 2) + '"}'


class _Peer:
    """The I/O side of one accepted connection."""

    def __init__(
        self,
        connection: ServerConnection,
        conversation: _Conversation,
        usage_sent: list[Event],
    ) -> None:
        self._connection = connection
        self._conversation = conversation
        self._usage_sent = usage_sent
        self._controls = {
            "fake.echo": self._echo,
            "fake.close": self._close,
            "fake.abort": self._abort,
            "fake.freeze": self._freeze,
            "fake.garbage": self._garbage,
            "fake.flood": self._flood,
            "fake.sleep": self._sleep,
        }

    async def run(self, handshake: Handshake) -> None:
        """Talk to the client until the connection closes."""
        try:
            if handshake.wants_beta:
                await self._send([self._conversation.beta_rejected()])
                await self._connection.close(
                    CloseCode.POLICY_VIOLATION, BETA_CLOSE_REASON
                )
                return
            await self._send([self._conversation.created()])
            while await self._receive_one():
                pass
        except ConnectionClosed:
            pass  # the client left; the server records how

    async def _send(self, events: list[Event]) -> None:
        for event in events:
            if event["type"] == "response.done":
                self._usage_sent.append(event["response"]["usage"])
            await self._connection.send(json.dumps(event, separators=(",", ":")))

    async def _receive_one(self) -> bool:
        """Handle one frame; return False once the fake has closed the connection."""
        message = await self._connection.recv()
        if isinstance(message, bytes):
            await self._connection.send(message)
            return True
        try:
            event = parse_client_event(message)
        except BadClientEvent as exc:
            logger.debug("unparseable client frame: %s", exc.code)
            await self._send([self._conversation.error(exc.code, exc.message)])
            return True
        control = self._controls.get(event["type"])
        if control is None:
            await self._send(self._conversation.handle(event))
            return True
        try:
            return await control(event, message)
        except BadClientEvent as exc:
            logger.debug("invalid scripting event: %s", exc.code)
            error = self._conversation.error(
                exc.code, exc.message, event_id=event.get("event_id"), param=exc.param
            )
            await self._send([error])
            return True

    async def _echo(self, event: Event, message: str) -> bool:
        await self._connection.send(message)
        return True

    async def _close(self, event: Event, message: str) -> bool:
        code = _int_field(event, "code", minimum=1000)
        reason = event.get("reason", "")
        if not isinstance(reason, str):
            raise BadClientEvent("invalid_value", "Expected a string.", param="reason")
        if len(reason.encode()) > MAX_CLOSE_REASON_BYTES:
            raise BadClientEvent("invalid_value", "Reason too long.", param="reason")
        try:
            Close(code, reason).check()
        except ProtocolError as exc:
            raise BadClientEvent(
                "invalid_value", "Not a sendable close code.", param="code"
            ) from exc
        await self._connection.close(code, reason)
        return False

    async def _abort(self, event: Event, message: str) -> bool:
        self._connection.transport.abort()
        return True  # the next recv() reports the dropped connection

    async def _freeze(self, event: Event, message: str) -> bool:
        # Stop reading the socket altogether: pings go unanswered, like a
        # provider that hangs with its TCP connection still up. A paused socket
        # cannot see its peer leave, so the freeze ends by dropping it.
        seconds = event.get("seconds", 3)
        if not isinstance(seconds, int | float) or not 0 <= seconds <= 60:
            raise BadClientEvent("invalid_value", "Expected 0 <= seconds <= 60.")
        self._connection.transport.pause_reading()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._connection.wait_closed()
        self._connection.transport.abort()
        return False

    async def _garbage(self, event: Event, message: str) -> bool:
        # A frame with a reserved opcode (0x3): a protocol error for the peer.
        self._connection.transport.write(b"\x83\x01x")
        return True

    async def _flood(self, event: Event, message: str) -> bool:
        count = _int_field(event, "count", minimum=0)
        size = _int_field(event, "size", minimum=0)
        for seq in range(count):
            await self._connection.send(_flood_frame(seq, size))
        return True

    async def _sleep(self, event: Event, message: str) -> bool:
        seconds = event.get("seconds")
        valid = isinstance(seconds, int | float) and not isinstance(seconds, bool)
        if not valid or not math.isfinite(seconds) or seconds < 0:
            raise BadClientEvent(
                "invalid_value", "Expected seconds >= 0.", param="seconds"
            )
        # Wake early if the connection closes, so stop() is never held up.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._connection.wait_closed()
        return True


def _json_response(connection: ServerConnection, status: int, error: Event) -> Response:
    response = connection.respond(status, json.dumps({"error": error}))
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = "application/json"
    return response


def _status_error(status: int) -> Event:
    phrase = http.HTTPStatus(status).phrase
    return {
        "type": "server_error" if status >= 500 else "invalid_request_error",
        "code": phrase.lower().replace(" ", "_").replace("-", "_"),
        "message": f"The fake upstream was told to answer HTTP {status} {phrase}.",
    }


class FakeRealtimeServer:
    """A scriptable Realtime API upstream on a loopback port."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        max_size: int = 16 * 1024 * 1024,
        reject_status: int | None = None,
        handshake_delay: float = 0.0,
    ) -> None:
        if reject_status is not None:
            http.HTTPStatus(
                reject_status
            )  # fail fast on a status websockets can't send
        self._api_key = api_key
        self._host = host
        self._port = port
        self._max_size = max_size
        self._reject_status = reject_status
        self._handshake_delay = handshake_delay
        self._server: Server | None = None
        self._stopping = asyncio.Event()
        self._connections: set[ServerConnection] = set()
        self._numbers = itertools.count(1)
        self._closed_changed = asyncio.Condition()
        self.handshakes: list[Handshake] = []
        self.closed: list[tuple[int | None, str]] = []
        self.usage_sent: list[Event] = []

    async def start(self) -> None:
        """Start listening."""
        if self._server is not None:
            raise RuntimeError("the fake upstream is already started")
        self._server = await websockets_serve(
            self._handle,
            self._host,
            self._port,
            process_request=self._process_request,
            select_subprotocol=_select_subprotocol,
            max_size=self._max_size,
            ping_interval=None,
            # The scripted delay must not trip websockets' own handshake timeout.
            open_timeout=10 + self._handshake_delay,
        )

    async def stop(self) -> None:
        """Close every live connection (1001), then the listening socket."""
        if self._server is None:
            return
        # Close first, so a handshake woken from its delay is refused with 503.
        self._server.close(close_connections=True)
        self._stopping.set()
        await self._server.wait_closed()

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
    def url(self) -> str:
        """The Realtime endpoint, e.g. ``ws://127.0.0.1:54321/v1/realtime``."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"ws://{host}:{self.port}{REALTIME_PATH}"

    @property
    def open_connections(self) -> int:
        """How many clients are connected right now."""
        return len(self._connections)

    async def wait_closed_count(self, n: int, timeout: float = 5.0) -> None:
        """Wait until ``n`` connections have finished; raise TimeoutError after."""
        async with asyncio.timeout(timeout), self._closed_changed:
            await self._closed_changed.wait_for(lambda: len(self.closed) >= n)

    async def _process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        handshake = Handshake.from_request(request)
        self.handshakes.append(handshake)
        if self._handshake_delay > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._handshake_delay):
                    await self._stopping.wait()  # stop() cuts the delay short
        if self._reject_status is not None:
            status = self._reject_status
            return _json_response(connection, status, _status_error(status))
        if self._api_key is not None and not self._authorized(request):
            logger.debug("rejected a handshake with a wrong or missing key")
            return _json_response(connection, 401, INVALID_API_KEY_ERROR)
        if handshake.path != REALTIME_PATH:
            error = {
                "type": "invalid_request_error",
                "code": "not_found",
                "message": f"No endpoint at {handshake.path}.",
            }
            return _json_response(connection, 404, error)
        return None

    def _authorized(self, request: Request) -> bool:
        values = request.headers.get_all("Authorization")
        expected = f"Bearer {self._api_key}".encode()
        return len(values) == 1 and hmac.compare_digest(values[0].encode(), expected)

    async def _handle(self, connection: ServerConnection) -> None:
        assert connection.request is not None  # set once the handshake succeeded
        handshake = Handshake.from_request(connection.request)
        conversation = _Conversation(
            number=next(self._numbers),
            model=handshake.query.get("model") or DEFAULT_MODEL,
        )
        self._connections.add(connection)
        try:
            await _Peer(connection, conversation, self.usage_sent).run(handshake)
            await connection.wait_closed()
        finally:
            self._connections.discard(connection)
            await self._record_close(connection)

    async def _record_close(self, connection: ServerConnection) -> None:
        received = connection.protocol.close_rcvd
        if received is None:
            self.closed.append((None, ""))
        else:
            self.closed.append((received.code, received.reason))
        async with self._closed_changed:
            self._closed_changed.notify_all()


def _select_subprotocol(
    connection: ServerConnection, subprotocols: Sequence[Subprotocol]
) -> Subprotocol | None:
    return REALTIME_SUBPROTOCOL if REALTIME_SUBPROTOCOL in subprotocols else None


async def serve(*, host: str, port: int, api_key: str | None) -> None:
    """Run a fake upstream until cancelled (for the management command)."""
    async with FakeRealtimeServer(api_key=api_key, host=host, port=port) as server:
        logger.info("fake realtime upstream listening on %s", server.url)
        await asyncio.Future()  # runs until the caller cancels it

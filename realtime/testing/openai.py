"""A loopback fake of OpenAI's Realtime API (the GA interface) for demos and tests.

It speaks the GA event shapes (``session.created``, ``conversation.item.added``,
``response.output_text.delta``, ``response.done`` with GA usage, ...) and rejects
the retired beta shape the way the real upstream does. Everything is
deterministic: ids are per-connection counters and usage follows the formula in
:class:`~realtime.testing.conversation.FakeUsage`.

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
- ``{"type": "fake.switch_model", "model": M}``: the session now runs M, as a
  ``session.updated`` says (a provider changing model on its own).
- ``{"type": "fake.long_response", "deltas": N, "interval": X}``: a text response
  of N one-word deltas, one every X seconds (default 0.05), while the fake keeps
  reading. ``response.cancel`` (OpenAI's own event) stops it the way OpenAI
  does: ``response.done`` with status ``cancelled`` and the usage so far (one
  output token a delta sent); with no response under way it is an error
  (``response_cancel_not_active``).

Input transcription (:mod:`realtime.testing.transcription`): a session that
names ``audio.input.transcription.model`` (a transcription session,
``?intent=transcription`` or ``session.type: "transcription"``, or a realtime
one) answers ``input_audio_buffer.commit`` with the transcript's
``conversation.item.input_audio_transcription.delta`` events and its
``.completed`` with the model's usage (tokens, or seconds for whisper-style
models).

Server-level knobs (``reject_status``, ``handshake_delay``, ``api_key``) script
the handshake; ``default_model`` is the model ``session.created`` reports when
the handshake names none (the provider's default). The protocol logic
(:class:`~realtime.testing.conversation.Conversation`) does no I/O.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import http
import itertools
import json
import logging
import math
from collections.abc import Sequence
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed, ProtocolError
from websockets.frames import Close as CloseFrame
from websockets.frames import CloseCode
from websockets.http11 import Response
from websockets.typing import Subprotocol

from realtime.testing.base import (
    MAX_CLOSE_REASON_BYTES,
    Discarded,
    Handshake,
    LoopbackServer,
    Session,
    json_response,
)
from realtime.testing.conversation import (
    BETA_CLOSE_REASON,
    BadClientEvent,
    Conversation,
    StreamedResponse,
    parse_client_event,
)
from realtime.testing.live import LIVE_PATHS, LiveProtocol
from realtime.testing.translation import TRANSLATION_PATHS, TranslationProtocol

__all__ = ["FakeRealtimeServer", "serve"]

logger = logging.getLogger(__name__)

Event = dict[str, Any]

REALTIME_PATH = "/v1/realtime"
# GPT-Live and translation, on the same origin (realtime.testing.live, .translation).
OTHER_PATHS = (*LIVE_PATHS, *TRANSLATION_PATHS)
SERVED_PATHS = (REALTIME_PATH, *OTHER_PATHS)
REALTIME_SUBPROTOCOL = Subprotocol("realtime")
DEFAULT_MODEL = "gpt-realtime"

INVALID_API_KEY_ERROR = {
    "type": "invalid_request_error",
    "code": "invalid_api_key",
    "message": "Incorrect API key provided.",
}


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
        conversation: Conversation,
        usage_sent: list[Event],
        client_events: list[str],
    ) -> None:
        self._connection = connection
        self._conversation = conversation
        self._usage_sent = usage_sent
        self._client_events = client_events
        self._controls = {
            "fake.echo": self._echo,
            "fake.close": self._close,
            "fake.abort": self._abort,
            "fake.freeze": self._freeze,
            "fake.garbage": self._garbage,
            "fake.flood": self._flood,
            "fake.sleep": self._sleep,
            "fake.switch_model": self._switch_model,
            "fake.long_response": self._long_response,
            "response.cancel": self._cancel,
        }
        # The long response being streamed, and the task streaming it.
        self._streamed: StreamedResponse | None = None
        self._streaming: asyncio.Task | None = None

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
        finally:
            await self._stop_streaming()

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
        self._client_events.append(event["type"])
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
            CloseFrame(code, reason).check()
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

    async def _switch_model(self, event: Event, message: str) -> bool:
        model = event.get("model")
        if not isinstance(model, str) or not model:
            raise BadClientEvent("invalid_value", "Expected a model.", param="model")
        session = self._conversation.session
        session["model"] = model
        await self._send([self._conversation.emit("session.updated", session=session)])
        return True

    async def _long_response(self, event: Event, message: str) -> bool:
        deltas = _int_field(event, "deltas", minimum=1)
        interval = event.get("interval", 0.05)
        if (
            isinstance(interval, bool)
            or not isinstance(interval, int | float)
            or not 0 <= interval <= 10
        ):
            raise BadClientEvent(
                "invalid_value", "Expected 0 <= interval <= 10.", param="interval"
            )
        if self._streaming is not None and not self._streaming.done():
            raise BadClientEvent(
                "conversation_already_has_active_response",
                "A response is already in progress.",
            )
        self._streamed = self._conversation.stream_response(deltas=deltas)
        self._streaming = asyncio.create_task(
            self._stream(self._streamed, float(interval))
        )
        return True

    async def _stream(self, response: StreamedResponse, interval: float) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self._send(response.opening())
            while response.remaining:
                # Wake early if the connection closes.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(interval):
                        await self._connection.wait_closed()
                await self._send([response.delta()])
            await self._send(response.finish("completed"))

    async def _cancel(self, event: Event, message: str) -> bool:
        response = self._streamed
        if response is None or self._streaming is None or self._streaming.done():
            raise BadClientEvent(
                "response_cancel_not_active", "There is no active response to cancel."
            )
        await self._stop_streaming()
        await self._send(response.finish("cancelled"))
        return True

    async def _stop_streaming(self) -> None:
        task, self._streaming = self._streaming, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _sleep(self, event: Event, message: str) -> bool:
        seconds = event.get("seconds")
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not math.isfinite(seconds)
            or seconds < 0
        ):
            raise BadClientEvent(
                "invalid_value", "Expected seconds >= 0.", param="seconds"
            )
        # Wake early if the connection closes, so stop() is never held up.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._connection.wait_closed()
        return True


def _status_error(status: int) -> Event:
    phrase = http.HTTPStatus(status).phrase
    return {
        "type": "server_error" if status >= 500 else "invalid_request_error",
        "code": phrase.lower().replace(" ", "_").replace("-", "_"),
        "message": f"The fake upstream was told to answer HTTP {status} {phrase}.",
    }


class FakeRealtimeServer(LoopbackServer):
    """A scriptable Realtime API upstream on a loopback port.

    Attributes beyond the shared ones: ``usage_sent`` (the ``usage`` object of
    every ``response.done`` and GPT-Live ``session.closed`` sent, in order),
    ``client_events`` (the type of every client event received, in order,
    across connections) and ``translated_bytes`` (the source audio of each
    translation append). GPT-Live (``/v1/live/sessions``) and translation
    (``/v1/realtime/translations``) are served beside the realtime endpoint.
    """

    path = REALTIME_PATH

    def __init__(
        self,
        *,
        api_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        max_size: int = 16 * 1024 * 1024,
        reject_status: int | None = None,
        handshake_delay: float = 0.0,
        default_model: str = DEFAULT_MODEL,
    ) -> None:
        if reject_status is not None:
            http.HTTPStatus(
                reject_status
            )  # fail fast on a status websockets can't send
        super().__init__(host=host, port=port, max_size=max_size)
        self._api_key = api_key
        self._reject_status = reject_status
        self._handshake_delay = handshake_delay
        self._default_model = default_model
        self._numbers = itertools.count(1)
        self.usage_sent: list[Event] = []
        self.client_events: list[str] = []
        self.translated_bytes: list[int] = []  # source audio of each append

    def forget_records(self) -> None:
        """Keep nothing of past connections, their events and usage included."""
        super().forget_records()
        self.usage_sent = Discarded()
        self.client_events = Discarded()
        self.translated_bytes = Discarded()

    def _serve_options(self) -> dict[str, Any]:
        return {
            "select_subprotocol": _select_subprotocol,
            # The scripted delay must not trip websockets' own handshake timeout.
            "open_timeout": 10 + self._handshake_delay,
        }

    async def _refuse(
        self, connection: ServerConnection, handshake: Handshake
    ) -> Response | None:
        if self._handshake_delay > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._handshake_delay):
                    await self._stopping.wait()  # stop() cuts the delay short
        if self._reject_status is not None:
            status = self._reject_status
            return json_response(connection, status, {"error": _status_error(status)})
        if self._api_key is not None and not self._authorized(handshake):
            logger.debug("rejected a handshake with a wrong or missing key")
            return json_response(connection, 401, {"error": INVALID_API_KEY_ERROR})
        other = _other_interface_refusal(handshake)
        if other is not None:
            return json_response(connection, 400, {"error": other})
        if handshake.path not in SERVED_PATHS:
            error = {
                "type": "invalid_request_error",
                "code": "not_found",
                "message": f"No endpoint at {handshake.path}.",
            }
            return json_response(connection, 404, {"error": error})
        return None

    def _authorized(self, handshake: Handshake) -> bool:
        values = [value for key, value in handshake.headers if key == "authorization"]
        expected = f"Bearer {self._api_key}".encode()
        return len(values) == 1 and hmac.compare_digest(values[0].encode(), expected)

    def _session(self, handshake: Handshake) -> Session:
        """GPT-Live's or translation's protocol, by the handshake's path."""
        number = next(self._numbers)
        if handshake.path in LIVE_PATHS:
            return LiveProtocol(
                number=number,
                usage_sent=self.usage_sent,
                client_events=self.client_events,
            )
        return TranslationProtocol(
            number=number,
            model=handshake.query["model"],
            client_events=self.client_events,
            audio=self.translated_bytes,
        )

    async def _converse(
        self, connection: ServerConnection, handshake: Handshake
    ) -> None:
        if handshake.path in OTHER_PATHS:  # GPT-Live, translation
            await super()._converse(connection, handshake)
            return
        conversation = Conversation(
            number=next(self._numbers),
            model=handshake.query.get("model") or self._default_model,
            intent=handshake.query.get("intent", ""),
        )
        peer = _Peer(connection, conversation, self.usage_sent, self.client_events)
        await peer.run(handshake)


def _other_interface_refusal(handshake: Handshake) -> Event | None:
    """Why a GPT-Live or translation handshake is refused, if it is: GPT-Live
    takes no query, translation requires its model in the query."""
    if handshake.path in LIVE_PATHS and handshake.query_items:
        name = handshake.query_items[0][0]
        return {
            "type": "invalid_request_error",
            "code": "unknown_parameter",
            "message": f"Unknown parameter: {name!r}; name the model in session.start.",
            "param": name,
        }
    if handshake.path in TRANSLATION_PATHS and not handshake.query.get("model"):
        return {
            "type": "invalid_request_error",
            "code": "missing_required_parameter",
            "message": "Missing required parameter: 'model'.",
            "param": "model",
        }
    return None


def _select_subprotocol(
    connection: ServerConnection, subprotocols: Sequence[Subprotocol]
) -> Subprotocol | None:
    return REALTIME_SUBPROTOCOL if REALTIME_SUBPROTOCOL in subprotocols else None


async def serve(*, host: str, port: int, api_key: str | None) -> None:
    """Run a fake upstream until cancelled (for the management command)."""
    server = FakeRealtimeServer(api_key=api_key, host=host, port=port)
    server.forget_records()  # it serves for as long as it runs
    async with server:
        logger.info("fake realtime upstream listening on %s", server.url)
        await asyncio.Future()  # runs until the caller cancels it

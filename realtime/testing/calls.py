"""A loopback fake of OpenAI's WebRTC call endpoints, beside its Realtime socket.

One provider row's URL serves every interface of a provider (its REST
endpoints on the origin of its realtime socket), so this fake answers them on
the port of :class:`~realtime.testing.openai.FakeRealtimeServer`:

- ``POST /v1/realtime/calls`` (and ``/openai/v1/...``): the offer as
  ``application/sdp`` (model in ``?model=``) or a ``multipart/form-data`` form
  of ``sdp`` and ``session``; answers ``201``, a valid SDP answer built from the
  offer (:func:`sdp_answer`: a browser's ``setRemoteDescription`` accepts it;
  no media ever flows) and ``Location: /v1/realtime/calls/rtc_fake_N``;
- ``POST /v1/live/sessions`` with JSON ``{"session", "transport": {"type":
  "webrtc", "sdp"}}``: answers ``201`` with ``{"session": {"id"}, "transport":
  {"type": "webrtc", "sdp"}}``;
- the sideband sockets, ``/v1/realtime?call_id=`` and
  ``/v1/live/sessions/{id}/attach``: a realtime call's sends
  ``session.created`` then ``response.done`` with ``call_usage``; a live
  session's sends ``session.started``, and ``session.closed`` with its usage
  when it ends;
- ``POST .../calls/{id}/hangup`` and ``.../live/sessions/{id}/hangup``: recorded
  in ``hangups``; the call's sideband closes (1000). ``end_call(id)`` is the
  provider hanging up by itself.

websockets parses only GET requests, so a connection whose first request is
anything else is answered here (:class:`_RestOrWebSocket`) and never reaches
websockets. Protocol sources: developers.openai.com/api/docs/guides/
realtime-webrtc and /realtime-server-controls; openai-python
``resources/realtime/calls.py`` and ``resources/live/``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import re
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Response

from realtime.testing.base import Handshake, json_response
from realtime.testing.openai import FakeRealtimeServer

__all__ = ["FakeCall", "FakeCallsServer", "sdp_answer"]

Event = dict[str, Any]

# Usage a call's sideband reports in its one `response.done`.
CALL_USAGE: Event = {
    "total_tokens": 60,
    "input_tokens": 40,
    "output_tokens": 20,
    "input_token_details": {"text_tokens": 10, "audio_tokens": 30},
    "output_token_details": {"text_tokens": 5, "audio_tokens": 15},
}
_API = r"(?:/openai)?/v1"
_CREATE_CALL = re.compile(rf"{_API}/realtime/calls")
_HANGUP_CALL = re.compile(rf"{_API}/realtime/calls/([^/]+)/hangup")
_CREATE_LIVE = re.compile(rf"{_API}/live/sessions")
_HANGUP_LIVE = re.compile(rf"{_API}/live/sessions/([^/]+)/hangup")
_ATTACH_LIVE = re.compile(rf"{_API}/live/sessions/([^/]+)/attach")
_SIDEBAND = re.compile(rf"{_API}/realtime")
_MAX_REQUEST = 1024 * 1024


def sdp_answer(offer: str, *, seed: str) -> str:
    """An SDP answer to `offer` a browser accepts: each media section mirrored
    (its kind, mid, and for audio the offer's Opus payload type), one ICE
    ufrag/pwd, a SHA-256 fingerprint, `a=setup:active` (RFC 8842: the answerer
    of an `actpass` offer), rtcp-mux, and the data channel's SCTP port."""
    digest = hashlib.sha256(seed.encode()).hexdigest().upper()
    fingerprint = ":".join(digest[i : i + 2] for i in range(0, 64, 2))
    ufrag, pwd = digest[:8].lower(), digest[8:40].lower()
    sections = re.split(r"\r?\n(?=m=)", offer.strip())
    mids = [_attribute(section, "mid") for section in sections[1:]]
    lines = [
        "v=0",
        f"o=- {int(digest[:12], 16)} 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        f"a=group:BUNDLE {' '.join(mid for mid in mids if mid)}",
        "a=msid-semantic: WMS",
    ]
    for section, mid in zip(sections[1:], mids, strict=True):
        kind = section.split(" ", 1)[0].removeprefix("m=")
        lines += _media_answer(section, kind)
        lines += [
            "c=IN IP4 0.0.0.0",
            f"a=ice-ufrag:{ufrag}",
            f"a=ice-pwd:{pwd}",
            "a=ice-options:trickle",
            f"a=fingerprint:sha-256 {fingerprint}",
            "a=setup:active",
            f"a=mid:{mid}",
        ]
        if kind == "application":
            lines.append("a=sctp-port:5000")
        else:
            lines += [_answer_direction(section), "a=rtcp-mux"]
            lines += _codec_lines(section)
    return "\r\n".join(lines) + "\r\n"


def _attribute(section: str, name: str) -> str:
    match = re.search(rf"^a={name}:(\S+)", section, re.MULTILINE)
    return match.group(1) if match else ""


def _media_answer(section: str, kind: str) -> list[str]:
    if kind == "application":
        return ["m=application 9 UDP/DTLS/SCTP webrtc-datachannel"]
    opus = _opus_type(section)
    return [f"m={kind} 9 UDP/TLS/RTP/SAVPF {opus}"]


def _opus_type(section: str) -> str:
    match = re.search(r"^a=rtpmap:(\d+) opus/48000", section, re.MULTILINE | re.I)
    if match:
        return match.group(1)
    return section.split()[3] if len(section.split()) > 3 else "111"


def _codec_lines(section: str) -> list[str]:
    if section.startswith("m=audio"):
        opus = _opus_type(section)
        return [f"a=rtpmap:{opus} opus/48000/2", f"a=fmtp:{opus} minptime=10"]
    return []


def _answer_direction(section: str) -> str:
    offered = re.search(
        r"^a=(sendrecv|sendonly|recvonly|inactive)\s*$", section, re.MULTILINE
    )
    direction = offered.group(1) if offered else "sendrecv"
    return "a=" + {"sendonly": "recvonly", "recvonly": "sendonly"}.get(
        direction, direction
    )


@dataclass(eq=False)
class FakeCall:
    """One call the fake created."""

    call_id: str
    kind: str  # "realtime" or "live"
    model: str
    session: Event
    offer: str
    usage: Event = field(default_factory=lambda: dict(CALL_USAGE))
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    end_reason: str = ""
    sidebands: int = 0  # sideband connections it had


class FakeCallsServer(FakeRealtimeServer):
    """:class:`FakeRealtimeServer` with WebRTC calls and their sidebands.

    Attributes beyond the parent's: ``calls`` (call id -> :class:`FakeCall`),
    ``hangups`` (call ids hung up through the API, in order) and
    ``call_requests`` (the headers of every create request).
    """

    def __init__(
        self, *, live_seconds: tuple[float, float] = (12.0, 3.0), **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.calls: dict[str, FakeCall] = {}
        self.hangups: list[str] = []
        self.call_requests: list[tuple[tuple[str, str], ...]] = []
        self.live_seconds = live_seconds  # (active, standby) a session reports
        self._call_numbers = itertools.count(1)

    def _serve_options(self) -> dict[str, Any]:
        fake = self

        class Connection(_RestOrWebSocket):
            server_fake = fake

        return {**super()._serve_options(), "create_connection": Connection}

    async def stop(self) -> None:
        for call in self.calls.values():
            call.ended.set()
        await super().stop()

    def end_call(self, call_id: str, reason: str = "remote_hangup") -> None:
        """The provider ends the call by itself: its sideband closes."""
        call = self.calls[call_id]
        call.end_reason = call.end_reason or reason
        call.ended.set()

    async def wait_hangup(self, call_id: str, timeout: float = 5.0) -> None:
        """Wait until `call_id` was hung up through the API."""
        async with asyncio.timeout(timeout):
            while call_id not in self.hangups:
                await asyncio.sleep(0.02)

    # --- REST ----------------------------------------------------------------

    def _authorized_rest(self, headers: dict[str, str]) -> bool:
        if self._api_key is None:
            return True
        given = headers.get("authorization") or ""
        return given == f"Bearer {self._api_key}" or (
            headers.get("api-key") == self._api_key
        )

    def rest(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """Answer one REST request: status, headers, body."""
        path, _, query = target.partition("?")
        if method != "POST":
            return _json(405, _error("method_not_allowed", "Use POST."))
        if not self._authorized_rest(headers):
            return _json(401, _error("invalid_api_key", "Incorrect API key provided."))
        if _CREATE_CALL.fullmatch(path):
            self.call_requests.append(tuple(sorted(headers.items())))
            return self._create_call(headers.get("content-type", ""), query, body)
        if _CREATE_LIVE.fullmatch(path):
            self.call_requests.append(tuple(sorted(headers.items())))
            return self._create_live(body)
        hangup = _HANGUP_CALL.fullmatch(path) or _HANGUP_LIVE.fullmatch(path)
        if hangup and hangup.group(1) in self.calls:
            self.hangups.append(hangup.group(1))
            self.end_call(hangup.group(1), "close_requested")
            return 200, {}, b""
        return _json(404, _error("not_found", f"No endpoint at {path}."))

    def _create_call(
        self, content_type: str, query: str, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        model = dict(re.findall(r"(\w+)=([^&]*)", query)).get("model", "")
        session: Event = {}
        if content_type.startswith("application/sdp"):
            offer = body.decode("utf-8", "replace")
        elif content_type.startswith("multipart/form-data"):
            fields = _form_fields(content_type, body)
            offer = fields.get("sdp", "")
            try:
                session = json.loads(fields.get("session") or "{}")
            except ValueError:
                return _json(400, _error("invalid_json", "session is not JSON."))
            model = session.get("model") or model
        else:
            return _json(400, _error("invalid_content_type", "Send application/sdp."))
        if not offer.startswith("v=0"):
            return _json(400, _error("invalid_offer", "The SDP offer is invalid."))
        call = self._new_call("realtime", model or self._default_model, session, offer)
        headers = {
            "Content-Type": "application/sdp",
            "Location": f"/v1/realtime/calls/{call.call_id}",
        }
        return 201, headers, sdp_answer(offer, seed=call.call_id).encode()

    def _create_live(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        try:
            data = json.loads(body)
            offer, session = data["transport"]["sdp"], data["session"]
        except (ValueError, KeyError, TypeError):
            return _json(400, _error("invalid_request", "Expected a Live session."))
        if not isinstance(offer, str) or not offer.startswith("v=0"):
            return _json(400, _error("invalid_offer", "The SDP offer is invalid."))
        call = self._new_call("live", session.get("model", ""), session, offer)
        answer = {
            "session": {"id": call.call_id},
            "transport": {
                "type": "webrtc",
                "sdp": sdp_answer(offer, seed=call.call_id),
            },
        }
        return _json(201, answer)

    def _new_call(self, kind: str, model: str, session: Event, offer: str) -> FakeCall:
        prefix = "rtc" if kind == "realtime" else "live"
        call_id = f"{prefix}_fake_{next(self._call_numbers)}"
        call = FakeCall(call_id, kind, model, session, offer)
        self.calls[call_id] = call
        return call

    # --- the sidebands ---------------------------------------------------------

    def _call_of(self, handshake: Handshake) -> FakeCall | None:
        attach = _ATTACH_LIVE.fullmatch(handshake.path)
        if attach:
            return self.calls.get(attach.group(1))
        if _SIDEBAND.fullmatch(handshake.path) and "call_id" in handshake.query:
            return self.calls.get(handshake.query["call_id"])
        return None

    async def _refuse(
        self, connection: ServerConnection, handshake: Handshake
    ) -> Response | None:
        wants_call = "call_id" in handshake.query or handshake.path.endswith("/attach")
        if not wants_call:
            return await super()._refuse(connection, handshake)
        if self._api_key is not None and not self._authorized(handshake):
            error = _error("invalid_api_key", "Incorrect API key provided.")
            return json_response(connection, 401, {"error": error})
        if self._call_of(handshake) is None:
            error = _error("call_not_found", "No such call.")
            return json_response(connection, 404, {"error": error})
        return None

    async def _converse(
        self, connection: ServerConnection, handshake: Handshake
    ) -> None:
        call = self._call_of(handshake)
        if call is None:
            await super()._converse(connection, handshake)
            return
        call.sidebands += 1
        with contextlib.suppress(ConnectionClosed):
            for event in self._opening(call):
                await connection.send(json.dumps(event))
            ended = asyncio.ensure_future(call.ended.wait())
            closed = asyncio.ensure_future(connection.wait_closed())
            await asyncio.wait({ended, closed}, return_when=asyncio.FIRST_COMPLETED)
            for waiter in (ended, closed):
                waiter.cancel()
            if call.ended.is_set():
                if call.kind == "live":
                    await connection.send(json.dumps(self._live_closed(call)))
                await connection.close(1000, "call ended")

    def _opening(self, call: FakeCall) -> list[Event]:
        if call.kind == "live":
            session = {"id": call.call_id, "model": call.model, **call.session}
            return [
                {"type": "session.started", "event_id": "evt_1", "session": session}
            ]
        session = {
            "type": "realtime",
            "id": f"sess_{call.call_id}",
            "object": "realtime.session",
            "model": call.model,
        }
        response = {
            "id": f"resp_{call.call_id}",
            "object": "realtime.response",
            "status": "completed",
            "output": [],
            "usage": call.usage,
        }
        self.usage_sent.append(call.usage)
        return [
            {"type": "session.created", "event_id": "evt_1", "session": session},
            {"type": "response.done", "event_id": "evt_2", "response": response},
        ]

    def _live_closed(self, call: FakeCall) -> Event:
        active, standby = self.live_seconds
        return {
            "type": "session.closed",
            "event_id": "evt_closed",
            "reason": call.end_reason or "close_requested",
            "session": {"id": call.call_id, "model": call.model},
            "usage": {
                "seconds": active + standby,
                "active_seconds": active,
                "standby_seconds": standby,
            },
        }


def _error(code: str, message: str) -> Event:
    return {"type": "invalid_request_error", "code": code, "message": message}


def _json(status: int, body: Event) -> tuple[int, dict[str, str], bytes]:
    """A JSON answer; an error's body in OpenAI's `{"error": {...}}`."""
    content = json.dumps({"error": body} if status >= 400 else body)
    return status, {"Content-Type": "application/json"}, content.encode()


def _form_fields(content_type: str, body: bytes) -> dict[str, str]:
    """The text fields of a multipart/form-data body."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    fields: dict[str, str] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields[name] = payload.decode("utf-8", "replace")
    return fields


class _RestOrWebSocket(ServerConnection):
    """A connection websockets serves only once its first request is a GET:
    a REST request (POST, ...) is read and answered by the fake instead."""

    server_fake: FakeCallsServer

    def connection_made(self, transport: Any) -> None:
        self._sniffed = bytearray()
        self._websocket: bool | None = None
        self._rest_transport = transport

    def data_received(self, data: bytes) -> None:
        if self._websocket:
            super().data_received(data)
            return
        if self._websocket is False:
            if not self._sniffed.startswith(b"answered"):
                self._sniffed += data
                self._maybe_answer()
            return
        self._sniffed += data
        if len(self._sniffed) < 4:
            return
        if bytes(self._sniffed[:4]) == b"GET ":
            self._websocket = True
            super().connection_made(self._rest_transport)
            super().data_received(bytes(self._sniffed))
            return
        self._websocket = False
        self._maybe_answer()

    def eof_received(self) -> None:
        if self._websocket:
            super().eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._websocket:
            super().connection_lost(exc)

    def _maybe_answer(self) -> None:
        head, found, body = bytes(self._sniffed).partition(b"\r\n\r\n")
        if not found:
            if len(self._sniffed) > _MAX_REQUEST:
                self._rest_transport.close()
            return
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length") or 0)
        if len(body) < length:
            return
        method, target, *_ = lines[0].split(" ")
        fake = self.server_fake
        status, answer_headers, content = fake.rest(
            method, target, headers, body[:length]
        )
        self._sniffed = bytearray(b"answered")  # anything more is ignored
        self._write(status, answer_headers, content)

    def _write(self, status: int, headers: dict[str, str], body: bytes) -> None:
        reason = {200: "OK", 201: "Created"}.get(status, "Error")
        lines = [
            f"HTTP/1.1 {status} {reason}",
            f"Content-Length: {len(body)}",
            "Connection: close",
        ]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self._rest_transport.write(head + body)
        self._rest_transport.close()


async def serve(*, host: str, port: int, api_key: str | None) -> None:
    """Run the fake (realtime sockets and calls) until cancelled."""
    server = FakeCallsServer(api_key=api_key, host=host, port=port)
    server.forget_records()  # it serves for as long as it runs
    async with server:
        await asyncio.Future()  # runs until the caller cancels it

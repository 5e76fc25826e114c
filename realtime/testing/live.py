"""A loopback fake of GPT-Live over WebSocket (`/v1/live/sessions`).

Served by :class:`~realtime.testing.FakeRealtimeServer` (and the
``fake_upstream`` command) beside its realtime endpoint, as OpenAI serves both
on one origin. It speaks the event shapes of openai-python 3.52's
``types/live`` (the GPT-Live reference):

- the handshake carries no query ("do not pass [the model] as a URL query
  parameter"); the fake refuses one with HTTP 400, so a test sees it;
- ``session.start`` must come first; anything else before it is answered with
  an ``error`` event (code ``session_not_started``); ``session.start`` is
  answered with ``session.started`` (the resolved ``session``: ``id``,
  ``model``, ``status: "active"``, ``expires_at``);
- ``session.update`` -> ``session.updated``; ``session.input_audio.append``
  -> ``session.output_audio.delta`` (the same audio back, as a voice would
  answer);
- ``session.close`` -> ``session.closed`` (``reason: "close_requested"``, the
  final ``usage: {"seconds": ...}``: the session's wall-clock time since
  ``session.started``, to the millisecond), then a normal close.

Every server event has an ``event_id`` (``event_live_<n>``) and, when the client
event named one, its ``client_event_id``. Scripting hooks (not GPT-Live's):

- ``{"type": "fake.usage"}``: a ``session.usage.updated`` with the time so far.
- ``{"type": "fake.delegate", "input_tokens": N, "output_tokens": M}``: a
  ``session.delegation.created`` (target ``responses``) and the delegated
  response's ``response.event``s, ``response.created`` then
  ``response.completed`` with that Responses ``usage`` (and ``model``, the
  session's ``delegation.responses.model``, when it names one).

The protocol logic does no I/O; its clock is injectable.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

from realtime.testing.base import Close, Reply, Session, json_object

__all__ = ["LIVE_PATHS", "LiveProtocol"]

Event = dict[str, Any]

LIVE_PATHS = ("/v1/live/sessions", "/openai/v1/live/sessions")
SESSION_LIFETIME = 3600  # seconds, for `expires_at`


class LiveProtocol(Session):
    """One GPT-Live WebSocket session: client events in, server events out."""

    def __init__(
        self,
        *,
        number: int,
        usage_sent: list[Event],
        client_events: list[str],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._number = number
        self._ids = itertools.count(1)
        self._usage_sent = usage_sent
        self._client_events = client_events
        self._clock = clock
        self._session: Event | None = None
        self._started_at = 0.0

    # --- the server's events ---------------------------------------------------

    def _event(self, kind: str, client: Event | None = None, **fields: Any) -> Event:
        event: Event = {
            "type": kind,
            "event_id": f"event_live_{self._number}_{next(self._ids)}",
            **fields,
        }
        client_event_id = (client or {}).get("event_id")
        if isinstance(client_event_id, str):
            event["client_event_id"] = client_event_id
        return event

    def _error(self, code: str, message: str, client: Event | None = None) -> Event:
        error = {"type": "invalid_request_error", "code": code, "message": message}
        client_event_id = (client or {}).get("event_id")
        if isinstance(client_event_id, str):
            error["client_event_id"] = client_event_id
        return self._event("error", client, error=error)

    def seconds(self) -> float:
        """The session's time so far (0 before it started)."""
        if self._session is None:
            return 0.0
        return round(self._clock() - self._started_at, 3)

    # --- the client's events ---------------------------------------------------

    def receive(self, message: str | bytes) -> list[Reply]:
        """Answer one client frame."""
        event = json_object(message)
        kind = event.get("type") if event is not None else None
        if event is None or not isinstance(kind, str):
            return [self._error("invalid_json", "Expected a JSON event object.")]
        self._client_events.append(kind)
        if kind == "session.start":
            return self._start(event)
        if self._session is None:
            return [
                self._error(
                    "session_not_started",
                    "Send session.start before other commands.",
                    event,
                )
            ]
        handler = {
            "session.update": self._update,
            "session.input_audio.append": self._audio,
            "session.close": self._close,
            "fake.usage": self._usage,
            "fake.delegate": self._delegate,
        }.get(kind)
        if handler is None:
            return [self._error("unknown_event", f"Unknown event {kind!r}.", event)]
        return handler(event)

    def _start(self, event: Event) -> list[Reply]:
        if self._session is not None:
            return [self._error("session_already_started", "Started already.", event)]
        config = event.get("session")
        if not isinstance(config, dict):
            config = {}
        model = config.get("model")
        if not isinstance(model, str) or not model:
            return [self._error("missing_required_parameter", "session.model", event)]
        self._started_at = self._clock()
        self._session = {
            **config,
            "id": f"sess_live_{self._number}",
            "model": model,
            "status": "active",
            "expires_at": int(time.time()) + SESSION_LIFETIME,
        }
        return [self._event("session.started", event, session=self._session)]

    def _update(self, event: Event) -> list[Reply]:
        assert self._session is not None
        update = event.get("session")
        if isinstance(update, dict):
            self._session.update({k: v for k, v in update.items() if k != "model"})
        return [self._event("session.updated", event, session=self._session)]

    def _audio(self, event: Event) -> list[Reply]:
        audio = event.get("audio")
        if not isinstance(audio, str):
            return [self._error("invalid_value", "Expected base64 audio.", event)]
        return [self._event("session.output_audio.delta", event, delta=audio)]

    def _usage(self, event: Event) -> list[Reply]:
        usage = {"seconds": self.seconds()}
        return [self._event("session.usage.updated", event, usage=usage)]

    def _close(self, event: Event) -> list[Reply]:
        usage = {"seconds": self.seconds()}
        self._usage_sent.append(usage)
        closed = self._event(
            "session.closed",
            event,
            reason="close_requested",
            session=self._session,
            usage=usage,
        )
        return [closed, Close(1000)]

    def _delegate(self, event: Event) -> list[Reply]:
        n = next(self._ids)
        delegation_id, response_id = f"del_{n}", f"resp_{n}"
        delegation = {
            "id": delegation_id,
            "type": "delegation",
            "target": "responses",
            "response_id": response_id,
        }
        input_tokens = _tokens(event.get("input_tokens"))
        output_tokens = _tokens(event.get("output_tokens"))
        usage = {
            "input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": input_tokens + output_tokens,
        }
        response = {"id": response_id, "object": "response", "status": "completed"}
        backend = _backend_model(self._session or {})
        if backend:  # a Responses object names the model that produced it
            response["model"] = backend
        nested = [
            {"type": "response.created", "response": {**response, "usage": None}},
            {"type": "response.completed", "response": {**response, "usage": usage}},
        ]
        offset_ms = int(self.seconds() * 1000)
        return [
            self._event(
                "session.delegation.created",
                event,
                delegation=delegation,
                offset_ms=offset_ms,
            ),
            *(
                self._event("response.event", delegation_id=delegation_id, event=e)
                for e in nested
            ),
        ]


def _backend_model(session: Event) -> str:
    delegation = session.get("delegation")
    if not isinstance(delegation, dict) or delegation.get("type") != "responses":
        return ""
    responses = delegation.get("responses")
    model = responses.get("model") if isinstance(responses, dict) else None
    return model if isinstance(model, str) else ""


def _tokens(value: Any) -> int:
    return value if isinstance(value, int) and value >= 0 else 0

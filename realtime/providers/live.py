"""GPT-Live over WebSocket: the per-session frame handler and the upstream target.

Protocol (openai-python 3.52, `types/live/` and `resources/live/live.py`; OpenAI's
GPT-Live reference, developers.openai.com/api/docs/guides/realtime-websocket?api=live;
Azure's, learn.microsoft.com/azure/foundry/openai/gpt-live-reference):

- The client dials `wss://api.openai.com/v1/live/sessions` (Azure:
  `/openai/v1/live/sessions`) with no query: the model is "required in the
  session configuration for every transport; do not pass it as a URL query
  parameter" (`SessionConfig.model`).
- Its first message is `session.start` ("Send this event before other commands
  and wait for `session.started`"), carrying `session.model`. The gateway checks
  that model against the key's allow-list before the frame goes on, and refuses
  any frame sent before it.
- `session.usage.updated` reports the cumulative session time so far and
  `session.closed` the final one (`SessionUsage.seconds`: "Values are totals for
  the session, not increments"). A WebSocket session is billed at the active
  rate throughout: the standby rate applies only "while inference is paused in a
  WebRTC session configured for standby" (developers.openai.com/api/docs/guides/
  voice-latency-cost), so the reported seconds are active seconds.
- Delegated Responses work streams as `response.event`, its nested event a
  Responses streaming event; `response.completed` (or `incomplete`, `failed`)
  carries that response's token usage (`types/responses/response_usage.py`).
  That work runs on the session's Responses backend, named in the session's
  `delegation: {"type": "responses", "responses": {"model"}}`
  (`types/live/session_config.py`, `responses_delegation_config.py`: "The
  model used for server-owned Responses delegations"; `session.update` may
  change it "for subsequent delegated requests"), and is billed as that
  model ("normal charges for Responses API usage", learn.microsoft.com/azure/
  foundry/openai/how-to/gpt-live-delegation), not at gpt-live-1's session-time
  rates. The gateway reads the backend model from `session.start` and from
  the server's `session.started` / `session.updated` (the session resource),
  or from the nested response's own `model` where it names one, and prices
  the delegated tokens at that model's rates (`ProviderSession.add_delegated`).
- `session.close` asks the session to end; the terminal `session.closed`
  carries the final usage ("A connection closing without this event does not
  confirm successful finalization").
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace
from typing import ClassVar

from realtime.events import count, decode_event, mapping, seconds
from realtime.exceptions import BadRequest, new_event_id
from realtime.providers.base import (
    ConnectRequest,
    ProviderAdapter,
    ProviderSession,
    UpstreamTarget,
)
from realtime.usage import Usage

LIVE_PATH = "live/sessions"
# Nested Responses events that carry a finished response's token usage.
_RESPONSE_ENDS = frozenset(
    {"response.completed", "response.incomplete", "response.failed"}
)
# How often, in session time at most, a budget is checked against the running
# estimate: GPT-Live reports its time only now and then.
BUDGET_PERIOD_SECONDS = 30.0


def live_target(adapter: ProviderAdapter, request: ConnectRequest) -> UpstreamTarget:
    """The GPT-Live endpoint on the provider's origin, no query, the credential
    as the provider's realtime endpoint takes it. OptionsError when the provider
    serves no GPT-Live."""
    url = adapter.interface_url(request.base_url, request.options, LIVE_PATH)
    return UpstreamTarget(url=url, headers=tuple(adapter.auth_headers(request)))


def start_required() -> BadRequest:
    """The refusal of a frame sent before `session.start`."""
    return BadRequest(
        "Send session.start (with session.model) before any other event.",
        code="session_start_required",
    )


class LiveSession(ProviderSession):
    """Checks `session.start`'s model; meters session time and delegated tokens."""

    inspects_client_text = True
    max_budget_period: ClassVar[float] = BUDGET_PERIOD_SECONDS

    def __init__(
        self,
        *,
        model: str,
        allowed_models: tuple[str, ...] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(model=model, allowed_models=allowed_models)
        self._clock = clock
        self._started_at: float | None = None  # when session.start went upstream
        self._closed = False  # session.closed (the final usage) received
        self.backend_model = ""  # the Responses backend delegated work runs on

    # --- client -> upstream ----------------------------------------------------

    def client_text(self, text: str) -> str:
        """`session.start`: its model checked (AccessDenied), then it goes on.
        Before it, any frame is refused (BadRequest). The backend model that
        `session.start` or a `session.update` delegates to is checked too."""
        started = self._started_at is not None
        if (
            started
            and '"session.start"' not in text
            and '"session.update"' not in text
            and "\\u" not in text
        ):
            return text  # a `\\u` escape could spell the event's name
        event = decode_event(text)
        kind = event.get("type") if event is not None else None
        if kind == "session.start":
            session = mapping(event.get("session")) if event else {}
            model = session.get("model")
            if not isinstance(model, str) or not model:
                raise BadRequest(
                    "session.start must name session.model.", code="missing_model"
                )
            self.name_model(model)
            self.backend_model = self.checked_backend(session) or self.backend_model
            if self._started_at is None:
                self._started_at = self._clock()
        elif self._started_at is None:
            raise start_required()
        elif kind == "session.update":
            session = mapping(event.get("session")) if event else {}
            self.backend_model = self.checked_backend(session) or self.backend_model
        return text

    def checked_backend(self, session: dict) -> str:
        """The Responses backend a client's session configuration delegates to
        (for pricing). Every model it delegates to is checked against the key's
        allow-list like the session's own (AccessDenied): delegated work runs,
        and is billed, on that model."""
        for delegated in delegated_models(session):
            self.check_model(delegated)
        return backend_model(session)

    def client_bytes(self, data: bytes) -> bytes:
        """A binary frame is an event only once the session has started."""
        if self._started_at is None:
            try:
                self.client_text(data.decode("utf-8"))
            except UnicodeDecodeError:
                raise start_required() from None
            return data
        return super().client_bytes(data)

    # --- upstream -> client ----------------------------------------------------

    def upstream_text(self, text: str) -> str:
        """Reads session time, delegated token usage and the running model."""
        if '"session.' in text or '"response.event"' in text:
            event = decode_event(text)
            if event is not None:
                self._read(event)
        return text

    def _read(self, event: dict) -> None:
        kind = event.get("type")
        if kind in ("session.usage.updated", "session.closed"):
            reported = seconds(mapping(event.get("usage")).get("seconds"))
            # Cumulative: the latest report replaces the earlier ones.
            self.usage = replace(self.usage, active_seconds=reported)
            if kind == "session.closed":
                self._closed = True
        elif kind == "response.event":
            nested = mapping(event.get("event"))
            if nested.get("type") in _RESPONSE_ENDS:
                self._delegated(mapping(nested.get("response")))
        elif kind in ("session.started", "session.updated"):
            session = mapping(event.get("session"))
            model = session.get("model")
            if kind == "session.started" and isinstance(model, str):
                self.report_model(model)
            self.backend_model = backend_model(session) or self.backend_model

    def _delegated(self, response: dict) -> None:
        """A delegated response's tokens, billed as the model that ran it."""
        usage = responses_usage(mapping(response.get("usage")))
        model = response.get("model")
        if not isinstance(model, str) or not model:
            model = self.backend_model
        if model:
            self.add_delegated(model, usage)
        else:  # no backend named: counted, priced as the session's model
            self.usage += usage

    # --- the end and the budget ------------------------------------------------

    @property
    def awaiting_usage(self) -> bool:
        """True from `session.start` until `session.closed` reports the total."""
        return self._started_at is not None and not self._closed

    def stop_requests(self) -> tuple[str, ...]:
        """`session.close`: the provider ends the session and reports its usage."""
        return (json.dumps({"type": "session.close", "event_id": new_event_id()}),)

    def running_usage(self, now: float) -> Usage:
        """The usage with the session's time estimated from the clock: the
        provider reports it only now and then, so a budget is checked against
        the time elapsed since `session.start`, at the active rate, until the
        final report."""
        started = self._started_at
        if started is None or self._closed:
            return self.usage
        elapsed = max(0.0, now - started)
        if elapsed <= self.usage.active_seconds:
            return self.usage
        return replace(self.usage, active_seconds=elapsed)


def backend_model(session: dict) -> str:
    """The Responses backend model a session configuration (or resource)
    names, "" when it names none or delegates otherwise."""
    delegation = mapping(session.get("delegation"))
    if delegation.get("type") != "responses":
        return ""
    model = mapping(delegation.get("responses")).get("model")
    return model if isinstance(model, str) else ""


def delegated_models(session: dict) -> tuple[str, ...]:
    """Every model a session configuration delegates work to: the Responses
    backend (`delegation.responses.model`) or the Decisions model
    (`delegation.decisions.model`), per openai-python 3.52
    `types/live/responses_delegation_config.py`, `decisions_delegation_config.py`
    and their `_update_config` twins."""
    delegation = mapping(session.get("delegation"))
    kind = delegation.get("type")
    if kind not in ("responses", "decisions"):
        return ()
    model = mapping(delegation.get(kind)).get("model")
    return (model,) if isinstance(model, str) and model else ()


def responses_usage(usage: dict) -> Usage:
    """A Responses API `usage` object as Usage (its tokens are text)."""
    details = mapping(usage.get("input_tokens_details"))
    input_tokens = count(usage.get("input_tokens"))
    output_tokens = count(usage.get("output_tokens"))
    return Usage(
        responses=1,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=count(usage.get("total_tokens")) or input_tokens + output_tokens,
        cached_tokens=count(details.get("cached_tokens")),
    )

"""OpenAI Realtime: the GA interface, and the retired beta dialect for old clients."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from realtime.credentials import DialectSign
from realtime.dialects import DialectTranslator
from realtime.events import count, decode_event, mapping, seconds
from realtime.providers.base import (
    ConnectRequest,
    OptionsError,
    ProviderAdapter,
    ProviderSession,
    Query,
    UpstreamTarget,
    join_query,
    query_value,
)
from realtime.usage import Usage

PROTOCOLS = ("ga", "beta")
BETA_HEADER = ("OpenAI-Beta", "realtime=v1")
# Subprotocols OpenAI's browser clients offer; the gateway selects one, GA first.
SUBPROTOCOLS = ("realtime", "openai-beta.realtime-v1")
# A client of the retired beta interface says so in a header or a subprotocol.
BETA_CLIENT = DialectSign(
    "beta", header=("openai-beta", "realtime=v1"), subprotocol=SUBPROTOCOLS[1]
)
# A server event's type comes first (or after its event_id): `response.created`
# is looked for in a frame's head only, so the frames that stream a response
# (audio deltas of kilobytes) cost no extra scan.
_CREATED = '"response.created"'
_HEAD = 160
# A transcription session (`?intent=transcription`, `session.type`), whose
# model is its transcription model (developers.openai.com/api/docs/guides/
# realtime-transcription).
TRANSCRIPTION = "transcription"
# Responses tracked at once (out-of-band responses may run beside the default).
_MAX_OPEN = 64


class OpenAISession(ProviderSession):
    """Sums `response.done` and input-transcription usage; learns the model;
    translates dialects.

    The model sits at `session.model` in the client's `session.update` and in
    the server's `session.created` / `session.updated`, in the GA interface and
    the beta one alike (openai-python `types/realtime/session_update_event.py`,
    `realtime_session_create_request.py`, `session_created_event.py`; beta:
    `types/beta/realtime/session.py`). GA's reference says a `session.update`
    may change any field "except for voice and model", so the server's
    `session.updated` tells what really runs; the row records the latest.

    A response is under way from its `response.created` to its `response.done`,
    and OpenAI bills it whole even when nobody reads it. To stop one, a client
    sends `response.cancel` (with the `response_id`; without one it cancels the
    default conversation's response); the server answers with `response.done`,
    status `cancelled`, carrying the usage so far (openai-python
    `types/realtime/response_cancel_event.py`; Azure's reference says the same).
    """

    reports_model = True

    def __init__(
        self,
        *,
        model: str,
        allowed_models: tuple[str, ...] = (),
        translator: DialectTranslator | None = None,
        aliases: Mapping[str, str] | None = None,
        intent: str = "",
    ) -> None:
        super().__init__(model=model, allowed_models=allowed_models)
        self._translator = translator
        # Names the provider reports -> the model they stand for (deployments).
        self._aliases = aliases or {}
        # Client frames are read when translating, when a model named in-band
        # must be checked (an allow-list) or learnt (none named at the handshake).
        self.inspects_client_text = (
            translator is not None or bool(allowed_models) or not model
        )
        # Ids of the responses under way ("" for one that named none).
        self._open_responses: set[str] = set()
        if intent == TRANSCRIPTION:
            self.interface = TRANSCRIPTION

    @property
    def awaits_model(self) -> bool:
        """A transcription session reports no session model to wait for: the
        model it names (or reports) is its transcription model."""
        return self.interface != TRANSCRIPTION and super().awaits_model

    @property
    def awaiting_usage(self) -> bool:
        """True while a response is under way (created, not yet done)."""
        return bool(self._open_responses)

    def stop_requests(self) -> tuple[str, ...]:
        """A `response.cancel` for each response under way."""
        return tuple(
            json.dumps({"type": "response.cancel", "response_id": response_id})
            if response_id
            else '{"type":"response.cancel"}'
            for response_id in sorted(self._open_responses)
        )

    def client_text(self, text: str) -> str:
        # A `\u` escape could spell the event's name: decode to be sure.
        if '"session.update"' in text or "\\u" in text:
            event = decode_event(text)
            if event is not None and event.get("type") == "session.update":
                session = mapping(event.get("session"))
                model = session.get("model")
                if isinstance(model, str) and model:
                    self.name_model(model)
                self._read_transcription(session, named=True)
        if self._translator is None:
            return text
        return self._translator.client_frame(text)

    def upstream_text(self, text: str) -> str:
        if (
            '"response.done"' in text
            or "transcription.completed" in text
            or '"session.' in text
            or text.find(_CREATED, 0, _HEAD) >= 0
        ):
            event = decode_event(text)
            if event is not None:
                self._read(event)
        if self._translator is None:
            return text
        return self._translator.upstream_frame(text)

    def _read(self, event: dict) -> None:
        kind = event.get("type")
        if kind == "response.done":
            response = mapping(event.get("response"))
            self._response_ended(_text(response.get("id")))
            self.usage += usage_from_response(mapping(response.get("usage")))
        elif kind == "response.created":
            response_id = _text(mapping(event.get("response")).get("id"))
            if len(self._open_responses) < _MAX_OPEN:
                self._open_responses.add(response_id)
        elif kind == "conversation.item.input_audio_transcription.completed":
            self._add_transcription_usage(mapping(event.get("usage")))
        elif kind in ("session.created", "session.updated"):
            session = mapping(event.get("session"))
            model = session.get("model")
            if isinstance(model, str):
                self.report_model(self._aliases.get(model, model))
            self._read_transcription(session, named=False)

    def _read_transcription(self, session: dict, *, named: bool) -> None:
        """The session's type and transcription model, as a `session.update`
        names them or the server reports them. In a transcription session the
        transcription model is the session's model: checked against the key's
        allow-list, and recorded."""
        if session.get("type") == TRANSCRIPTION:
            self.interface = TRANSCRIPTION
        model = transcription_model(session)
        if not model:
            return
        self.transcription_model = model
        if self.interface == TRANSCRIPTION:
            if named:
                self.name_model(model)
            else:
                self.report_model(model)

    def _response_ended(self, response_id: str) -> None:
        open_responses = self._open_responses
        if response_id in open_responses:
            open_responses.discard(response_id)
        elif open_responses:  # a response known by no id, or by another
            open_responses.pop()

    def _add_transcription_usage(self, usage: dict) -> None:
        if usage.get("type") == "duration":
            self.usage += Usage(transcription_seconds=seconds(usage.get("seconds")))
        else:
            total = count(usage.get("total_tokens")) or count(
                usage.get("input_tokens")
            ) + count(usage.get("output_tokens"))
            self.usage += Usage(transcription_tokens=total)


def transcription_model(session: dict) -> str:
    """The input transcription model a session object names: GA's
    `audio.input.transcription.model` (openai-python
    `types/realtime/realtime_transcription_session_create_request.py`,
    `audio_transcription.py`), or the beta's `input_audio_transcription.model`."""
    ga = mapping(
        mapping(mapping(session.get("audio")).get("input")).get("transcription")
    )
    beta = mapping(session.get("input_audio_transcription"))
    model = ga.get("model") or beta.get("model")
    return model if isinstance(model, str) else ""


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def usage_from_response(usage: dict) -> Usage:
    """A `response.usage` object (GA and beta share the shape) as Usage.

    GA reports image tokens too, in `input_token_details` and its
    `cached_tokens_details` (openai-python
    `types/realtime/realtime_response_usage_input_token_details.py`).
    """
    input_details = mapping(usage.get("input_token_details"))
    cached_details = mapping(input_details.get("cached_tokens_details"))
    output_details = mapping(usage.get("output_token_details"))
    input_tokens = count(usage.get("input_tokens"))
    output_tokens = count(usage.get("output_tokens"))
    return Usage(
        responses=1,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=count(usage.get("total_tokens")) or input_tokens + output_tokens,
        cached_tokens=count(input_details.get("cached_tokens")),
        cached_text_tokens=count(cached_details.get("text_tokens")),
        cached_audio_tokens=count(cached_details.get("audio_tokens")),
        cached_image_tokens=count(cached_details.get("image_tokens")),
        input_text_tokens=count(input_details.get("text_tokens")),
        input_audio_tokens=count(input_details.get("audio_tokens")),
        input_image_tokens=count(input_details.get("image_tokens")),
        output_text_tokens=count(output_details.get("text_tokens")),
        output_audio_tokens=count(output_details.get("audio_tokens")),
    )


def translator_for(
    client_dialect: str, upstream_protocol: str
) -> DialectTranslator | None:
    """A dialect translator when client and upstream disagree, else None."""
    if client_dialect == upstream_protocol:
        return None
    from realtime.dialects import openai_beta

    if client_dialect == "beta":
        return openai_beta.BetaClientOnGA()
    return openai_beta.GAClientOnBeta()


class OpenAIAdapter(ProviderAdapter):
    """wss://api.openai.com/v1/realtime with `Authorization: Bearer`."""

    kind = "openai"
    default_url = "wss://api.openai.com/v1/realtime"
    credential_header = "authorization"
    client_subprotocols = SUBPROTOCOLS
    client_dialects = (BETA_CLIENT,)
    checked_params: ClassVar[tuple[str, ...]] = ("model",)
    serves_other_interfaces = True

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        return ("protocol",)

    @classmethod
    def validate_options(cls, options: Mapping[str, Any]) -> None:
        super().validate_options(options)
        if options.get("protocol", "ga") not in PROTOCOLS:
            raise OptionsError("protocol must be 'ga' or 'beta'.")

    def handshake_model(self, query: Query, options: Mapping[str, Any]) -> str | None:
        """`model`, or None: the client may name it in `session.update`, and the
        provider reports the one it runs in `session.created`."""
        return query_value(query, "model") or None

    def auth_headers(self, request: ConnectRequest) -> list[tuple[str, str]]:
        """The credential in the provider's own scheme."""
        return [("Authorization", f"Bearer {request.credential.reveal()}")]

    def target(self, request: ConnectRequest) -> UpstreamTarget:
        """The client's query (model, intent, ...) goes along."""
        return UpstreamTarget(
            url=join_query(request.base_url, request.query),
            headers=tuple(self._headers(request)),
        )

    def _headers(self, request: ConnectRequest) -> list[tuple[str, str]]:
        headers = self.auth_headers(request)
        if request.options.get("protocol", "ga") == "beta":
            headers.append(BETA_HEADER)
        return headers

    applies_session_config = True

    def session_config_frames(
        self, config: Mapping[str, Any], options: Mapping[str, Any]
    ) -> tuple[str, ...]:
        """A GA `session.update` of the configuration, the model left out: the
        URL names it (GA's reference: a `session.update` may change any field
        "except for voice and model"), and Azure knows it by its deployment.
        Translated for an upstream that still speaks beta."""
        session = {name: value for name, value in config.items() if name != "model"}
        if not set(session) - {"type"}:
            return ()
        event = {"type": "session.update", "session": session}
        frame = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
        translator = translator_for("ga", options.get("protocol", "ga"))
        return (frame if translator is None else translator.client_frame(frame),)

    def open_session(
        self, *, model: str, request: ConnectRequest, allowed_models: tuple[str, ...]
    ) -> ProviderSession:
        protocol = request.options.get("protocol", "ga")
        return OpenAISession(
            model=model,
            allowed_models=allowed_models,
            translator=translator_for(request.dialect, protocol),
            aliases=self.reported_aliases(request.options),
            intent=query_value(request.query, "intent"),
        )

    def reported_aliases(self, options: Mapping[str, Any]) -> Mapping[str, str]:
        """Names the provider may report for a model (none for OpenAI)."""
        return {}

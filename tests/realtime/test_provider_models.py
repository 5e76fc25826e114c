"""Where each provider session learns its model, and the allow-list on each.

Table-driven, on recorded frames, with no network: the shapes are OpenAI's GA
and beta events (openai-python `types/realtime`, `types/beta/realtime`),
Gemini's setup message and Cartesia's generation requests.
"""

from __future__ import annotations

import json

import pytest

from keys.values import Secret
from realtime.exceptions import AccessDenied, BadRequest
from realtime.providers import ConnectRequest, ProviderSession, adapter_for

ALLOWED = ("gpt-realtime*",)


def session(
    kind: str, *, model="", allowed=(), options=None, url="", dialect="ga"
) -> ProviderSession:
    """A provider's per-session handler, as admission opens it."""
    adapter = adapter_for(kind)
    options = options or {}
    request = ConnectRequest(
        base_url=adapter.upstream_url(url, options),
        credential=Secret("sk-upstream"),
        query=(),
        subprotocols=(),
        options=options,
        dialect=dialect,
    )
    return adapter.open_session(
        model=model, request=request, allowed_models=tuple(allowed)
    )


# What OpenAI's GA server sends first (trimmed), and a later session.updated.
GA_CREATED = json.dumps(
    {
        "type": "session.created",
        "event_id": "event_C9G5RJeJ2gF77mV7f2B1j",
        "session": {
            "type": "realtime",
            "object": "realtime.session",
            "id": "sess_C9G5QPteg4UIbotdKLoYQ",
            "model": "gpt-realtime-2025-08-28",
            "output_modalities": ["audio"],
            "instructions": "Your knowledge cutoff is 2023-10.",
        },
    }
)
BETA_CREATED = json.dumps(
    {
        "type": "session.created",
        "event_id": "event_1234",
        "session": {
            "id": "sess_001",
            "object": "realtime.session",
            "model": "gpt-4o-realtime-preview-2024-12-17",
            "modalities": ["text", "audio"],
        },
    }
)


def created(model: str, kind: str = "session.created") -> str:
    return json.dumps({"type": kind, "session": {"type": "realtime", "model": model}})


def update(model: str) -> str:
    return json.dumps({"type": "session.update", "session": {"model": model}})


# --- OpenAI: handshake, session.update, session.created / session.updated -------


@pytest.mark.parametrize(
    ("kind", "query", "model"),
    [
        ("openai", [], None),  # named in-band, or reported by the provider
        ("openai", [("model", "")], None),
        ("openai", [("model", "gpt-realtime")], "gpt-realtime"),
        ("azure", [], None),
        ("azure", [("deployment", "rt")], "rt"),
        ("elevenlabs", [("voice_id", "v")], ""),  # a TTS default: refused if listed
    ],
)
def test_where_the_model_is_named_at_the_handshake(kind, query, model):
    assert adapter_for(kind).handshake_model(tuple(query), {}) == model


@pytest.mark.parametrize(
    ("frame", "model"),
    [
        (GA_CREATED, "gpt-realtime-2025-08-28"),
        (BETA_CREATED, "gpt-4o-realtime-preview-2024-12-17"),
        (created("gpt-realtime-mini", "session.updated"), "gpt-realtime-mini"),
    ],
)
def test_the_model_the_provider_reports_is_recorded(frame, model):
    live = session("openai")
    assert live.upstream_text(frame) is frame
    assert live.model == model


@pytest.mark.parametrize(
    "frame",
    [
        update("gpt-realtime"),
        # The beta dialect keeps the model at the same place.
        '{"type":"session.update","session":{"modalities":["text"],'
        '"model":"gpt-realtime"}}',
        # An escaped name is still the event's name.
        '{"type":"session\\u002eupdate","session":{"model":"gpt-realtime"}}',
    ],
)
def test_session_update_names_the_model(frame):
    live = session("openai")
    assert live.inspects_client_text  # no model yet: client frames are read
    assert live.client_text(frame) is frame
    assert live.model == "gpt-realtime"


@pytest.mark.parametrize(
    "frame",
    [
        update("gpt-4o-realtime-preview"),
        '{"type":"session\\u002eupdate","session":{"model":"gpt-4o-realtime-preview"}}',
        '{"type":"session.update","session":{"m\\u006fdel":"gpt-4o-realtime-preview"}}',
    ],
)
def test_a_switch_outside_the_allow_list_is_refused(frame):
    live = session("openai", model="gpt-realtime", allowed=ALLOWED)
    assert live.inspects_client_text
    with pytest.raises(AccessDenied) as caught:
        live.client_text(frame)
    assert caught.value.code == "model_not_allowed"
    assert live.model == "gpt-realtime"  # what ran is what is priced


def test_a_switch_inside_the_allow_list_is_recorded():
    live = session("openai", model="gpt-realtime", allowed=ALLOWED)
    live.client_text(update("gpt-realtime-mini"))
    assert live.model == "gpt-realtime-mini"
    live.upstream_text(created("gpt-realtime-mini-2025-10-06", "session.updated"))
    assert live.model == "gpt-realtime-mini-2025-10-06"  # the latest


def test_other_frames_and_other_fields_are_left_alone():
    live = session("openai", allowed=ALLOWED)
    for frame in (
        '{"type":"session.update","session":{"instructions":"Be brief."}}',
        '{"type":"conversation.item.create","item":{"content":[{"type":'
        '"input_text","text":"\\"session.update\\" model gpt-4o"}]}}',
        "not json",
    ):
        assert live.client_text(frame) is frame
    assert live.model == ""


def test_a_provider_default_outside_the_allow_list_is_refused():
    live = session("openai", allowed=ALLOWED)
    assert live.awaits_model
    with pytest.raises(AccessDenied):
        live.upstream_text(created("gpt-4o-realtime-preview"))
    assert live.model == "gpt-4o-realtime-preview"  # the row says what was refused

    allowed = session("openai", allowed=ALLOWED)
    allowed.upstream_text(GA_CREATED)
    assert not allowed.awaits_model
    # The provider then switching on its own is checked again.
    with pytest.raises(AccessDenied):
        allowed.upstream_text(created("gpt-4o-mini-realtime", "session.updated"))


def test_a_report_for_a_model_the_client_named_is_recorded_not_rechecked():
    # A model named (and checked) at the handshake may come back as a snapshot.
    live = session("openai", model="gpt-realtime", allowed=("gpt-realtime",))
    assert not live.awaits_model
    live.upstream_text(GA_CREATED)
    assert live.model == "gpt-realtime-2025-08-28"


@pytest.mark.parametrize(
    ("model", "allowed", "awaits"),
    [("", ALLOWED, True), ("gpt-realtime", ALLOWED, False), ("", (), False)],
)
def test_only_an_allow_listed_key_that_named_no_model_awaits_the_report(
    model, allowed, awaits
):
    assert session("openai", model=model, allowed=allowed).awaits_model is awaits
    assert not session("google", allowed=allowed).awaits_model  # the client names it


def test_azure_reports_a_deployment_as_the_model_it_stands_for():
    options = {"deployments": {"gpt-realtime": "rt-prod"}}
    live = session("azure", model="gpt-realtime", options=options, url="wss://x")
    live.upstream_text(created("rt-prod"))
    assert live.model == "gpt-realtime"
    live.upstream_text(created("gpt-realtime-2025-08-28", "session.updated"))
    assert live.model == "gpt-realtime-2025-08-28"


def test_beta_clients_are_checked_before_translation():
    live = session("openai", model="gpt-realtime", allowed=ALLOWED, dialect="beta")
    with pytest.raises(AccessDenied):
        live.client_text(update("gpt-4o-realtime-preview"))
    upstream = session("openai", allowed=ALLOWED, options={"protocol": "beta"})
    frame = BETA_CREATED.replace("gpt-4o-realtime-preview", "gpt-realtime")
    translated = json.loads(upstream.upstream_text(frame))  # GA, for a GA client
    assert translated["session"]["type"] == "realtime"
    assert upstream.model == "gpt-realtime-2024-12-17"


# --- binary client frames are read like text ones ---------------------------------


def test_a_binary_setup_is_checked_like_a_text_one():
    frame = json.dumps({"setup": {"model": "models/gemini-2.5-flash-live"}}).encode()
    live = session("google", allowed=("gemini-2.5-*",))
    assert live.client_bytes(frame) is frame
    assert live.model == "gemini-2.5-flash-live"

    refused = session("google", allowed=("gemini-2.5-*",))
    with pytest.raises(AccessDenied):
        refused.client_bytes(b'{"setup":{"model":"models/gemini-3-pro"}}')
    assert refused.model == "gemini-3-pro"


@pytest.mark.parametrize("kind", ["openai", "google", "cartesia"])
def test_binary_frames_that_are_not_text_pass_through(kind):
    live = session(kind, allowed=("x",))
    audio = bytes(range(256)) * 4  # not UTF-8
    assert live.client_bytes(audio) is audio


def test_binary_session_update_and_generation_requests_are_checked():
    live = session("openai", model="gpt-realtime", allowed=ALLOWED)
    with pytest.raises(AccessDenied):
        live.client_bytes(update("gpt-4o-realtime-preview").encode())
    tts = session("cartesia", allowed=("sonic*",))
    request = {"model_id": "sonic-2", "transcript": "Hi there", "context_id": "c"}
    tts.client_bytes(json.dumps(request).encode())
    assert (tts.model, tts.usage.characters) == ("sonic-2", 8)
    with pytest.raises(AccessDenied):
        tts.client_bytes(json.dumps({**request, "model_id": "other"}).encode())


def test_a_translating_session_rewrites_a_binary_frame_as_binary():
    beta = session("openai", model="gpt-realtime", dialect="beta")
    frame = b'{"type":"session.update","session":{"modalities":["text"]}}'
    out = beta.client_bytes(frame)
    assert isinstance(out, bytes)
    assert json.loads(out)["session"]["output_modalities"] == ["text"]


def test_cartesia_records_the_latest_model_id():
    tts = session("cartesia")
    for model in ("sonic-2", "sonic-turbo"):
        tts.client_text(json.dumps({"model_id": model, "transcript": "x"}))
    assert tts.model == "sonic-turbo"


# --- duplicate copies of a checked parameter --------------------------------------


@pytest.mark.parametrize(
    ("kind", "query"),
    [
        ("openai", [("model", "gpt-realtime"), ("model", "gpt-4o-realtime")]),
        ("azure", [("deployment", "a"), ("deployment", "b")]),
        ("azure", [("model", "a"), ("intent", "x"), ("model", "a")]),
        ("elevenlabs", [("voice_id", "v1"), ("voice_id", "v2")]),
        ("elevenlabs", [("agent_id", "a"), ("agent_id", "b")]),
        ("elevenlabs", [("voice_id", "v"), ("model_id", "m"), ("model_id", "n")]),
    ],
)
def test_a_checked_parameter_sent_twice_is_a_bad_request(kind, query):
    with pytest.raises(BadRequest) as caught:
        adapter_for(kind).check_query(tuple(query))
    assert caught.value.code == "duplicate_parameter"
    assert caught.value.close_code == 4400


@pytest.mark.parametrize(
    ("kind", "query"),
    [
        ("openai", [("model", "gpt-realtime"), ("intent", "a"), ("intent", "b")]),
        ("azure", [("model", "a"), ("deployment", "a")]),
        ("google", [("model", "a"), ("model", "b")]),  # never forwarded: unchecked
        ("cartesia", [("cartesia_version", "x")]),
    ],
)
def test_other_repeats_are_not_the_gateways_business(kind, query):
    adapter_for(kind).check_query(tuple(query))

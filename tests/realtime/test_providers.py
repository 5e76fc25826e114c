"""Provider adapters without a network: targets, options and golden frames."""

from __future__ import annotations

import base64
import json

import pytest
from django.core.exceptions import ValidationError

from keys.models import Provider
from keys.values import Secret
from realtime.credentials import parse_handshake
from realtime.exceptions import AccessDenied, BadRequest
from realtime.providers import ConnectRequest, adapter_for, key_places
from realtime.providers.base import OptionsError
from realtime.usage import Usage

SECRET = Secret("sk-upstream")


def request(kind: str, query=(), options=None, url="", dialect="ga") -> ConnectRequest:
    adapter = adapter_for(kind)
    options = options or {}
    return ConnectRequest(
        base_url=adapter.upstream_url(url, options),
        credential=SECRET,
        query=tuple(query),
        subprotocols=(),
        options=options,
        dialect=dialect,
    )


def target(kind: str, **kwargs):
    return adapter_for(kind).target(request(kind, **kwargs))


def session(kind: str, *, allowed=(), model="", **kwargs):
    return adapter_for(kind).open_session(
        model=model, request=request(kind, **kwargs), allowed_models=tuple(allowed)
    )


def b64(size: int) -> str:
    return base64.b64encode(bytes(size)).decode()


# --- targets ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "kwargs", "url", "headers"),
    [
        ("openai", {"query": [("model", "gpt-realtime")]},
         "wss://api.openai.com/v1/realtime?model=gpt-realtime",
         [("Authorization", "Bearer sk-upstream")]),
        ("openai", {"query": [("intent", "transcription")], "options": {"protocol": "beta"}},
         "wss://api.openai.com/v1/realtime?intent=transcription",
         [("Authorization", "Bearer sk-upstream"), ("OpenAI-Beta", "realtime=v1")]),
        ("azure", {"query": [("model", "gpt-realtime"), ("x", "1")],
                   "options": {"resource": "contoso", "deployments": {"gpt-realtime": "rt"}}},
         "wss://contoso.openai.azure.com/openai/v1/realtime?model=rt&x=1",
         [("api-key", "sk-upstream")]),
        ("azure", {"query": [("deployment", "rt")],
                   "options": {"resource": "contoso", "api_style": "preview", "auth": "bearer"}},
         "wss://contoso.openai.azure.com/openai/realtime?api-version=2025-04-01-preview&deployment=rt",
         [("Authorization", "Bearer sk-upstream")]),
        ("google", {"query": [("model", "gemini-x"), ("key", "vk"), ("alt", "json")]},
         "wss://generativelanguage.googleapis.com/ws/google.ai.generativelanguage.v1beta"
         ".GenerativeService.BidiGenerateContent?alt=json",
         [("x-goog-api-key", "sk-upstream")]),
        ("cartesia", {"query": [("api_key", "vk")]},
         "wss://api.cartesia.ai/tts/websocket?cartesia_version=2025-04-16",
         [("X-API-Key", "sk-upstream")]),
        ("cartesia", {"query": [("cartesia_version", "2024-06-10")]},
         "wss://api.cartesia.ai/tts/websocket?cartesia_version=2024-06-10",
         [("X-API-Key", "sk-upstream")]),
        ("elevenlabs", {"query": [("voice_id", "v 1"), ("model_id", "eleven_flash_v2_5")]},
         "wss://api.elevenlabs.io/v1/text-to-speech/v%201/stream-input?model_id=eleven_flash_v2_5",
         [("xi-api-key", "sk-upstream")]),
        ("elevenlabs", {"query": [("agent_id", "a1")]},
         "wss://api.elevenlabs.io/v1/convai/conversation?agent_id=a1",
         [("xi-api-key", "sk-upstream")]),
    ],
)  # fmt: skip
def test_targets(kind, kwargs, url, headers):
    built = target(kind, **kwargs)
    assert built.url == url
    assert list(built.headers) == headers
    assert "sk-upstream" not in repr(built)


def test_elevenlabs_needs_a_voice_or_an_agent():
    with pytest.raises(BadRequest):
        target("elevenlabs", query=[("model_id", "m")])


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("openai", {"protocol": "v3"}),
        ("openai", {"resource": "x"}),
        ("azure", {"api_style": "beta"}),
        ("azure", {"deployments": ["a"]}),
        ("azure", {"auth": "cookie"}),
        ("azure", {"resource": "bad/name"}),
        ("google", {"anything": 1}),
        ("cartesia", {"cartesia_version": 2024}),
    ],
)
def test_bad_options_are_refused(kind, options):
    with pytest.raises(OptionsError):
        adapter_for(kind).validate_options(options)


@pytest.mark.django_db
def test_provider_rows_validate_their_options():
    provider = Provider(slug="az", kind="azure", options={"api_style": "beta"})
    with pytest.raises(ValidationError) as caught:
        provider.full_clean()
    assert "options" in caught.value.message_dict
    provider.options = {"resource": "contoso"}
    provider.full_clean()


def test_azure_needs_a_url_or_a_resource():
    with pytest.raises(OptionsError):
        adapter_for("azure").upstream_url("", {})


@pytest.mark.parametrize(
    ("kind", "query", "model"),
    [
        ("openai", [("model", "gpt-realtime")], "gpt-realtime"),
        ("azure", [("deployment", "rt")], "rt"),
        ("google", [("model", "gemini-x")], None),
        ("cartesia", [], None),
        ("elevenlabs", [("voice_id", "v"), ("model_id", "m")], "m"),
        ("elevenlabs", [("agent_id", "a1")], "agent:a1"),
    ],
)
def test_where_the_model_is_named(kind, query, model):
    assert adapter_for(kind).handshake_model(tuple(query), {}) == model


def test_every_providers_own_key_places_are_accepted():
    places = key_places()
    assert set(places.headers) == {
        "api-key",
        "x-goog-api-key",
        "x-api-key",
        "xi-api-key",
    }
    for headers, query, protocols in [
        ([(b"xi-api-key", b"vk")], b"", ()),
        ([(b"x-goog-api-key", b"vk")], b"", ()),
        ([], b"key=vk", ()),
        ([], b"", ("realtime", "xi-api-key.vk")),
        ([], b"", ("X-API-Key.vk",)),
    ]:
        handshake = parse_handshake(
            headers=headers, query_string=query, subprotocols=protocols, places=places
        )
        assert handshake.credentials.api_key == "vk"
        assert all("vk" not in p for p in handshake.subprotocols)
        assert ("key", "vk") not in handshake.query


@pytest.mark.parametrize(
    ("headers", "protocols", "dialect"),
    [
        ([], (), "ga"),
        ([(b"openai-beta", b"realtime=v1")], (), "beta"),
        ([], ("realtime", "openai-beta.realtime-v1"), "beta"),
        ([(b"openai-beta", b"assistants=v2")], (), "ga"),
    ],
)
def test_beta_dialect_is_detected(headers, protocols, dialect):
    handshake = parse_handshake(
        headers=headers, query_string=b"", subprotocols=protocols, places=key_places()
    )
    assert handshake.dialect == dialect


# --- usage: golden frames ---------------------------------------------------------

GEMINI_USAGE = {
    "usageMetadata": {
        "promptTokenCount": 522,
        "cachedContentTokenCount": 100,
        "responseTokenCount": 42,
        "toolUsePromptTokenCount": 8,
        "thoughtsTokenCount": 136,
        "totalTokenCount": 708,
        "promptTokensDetails": [
            {"modality": "TEXT", "tokenCount": 332},
            {"modality": "AUDIO", "tokenCount": 165},
        ],
        "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": 100}],
        "responseTokensDetails": [{"modality": "AUDIO", "tokenCount": 42}],
    }
}
GEMINI_EXPECTED = Usage(
    responses=1,
    input_tokens=530,
    output_tokens=178,
    total_tokens=708,
    cached_tokens=100,
    cached_text_tokens=100,
    input_text_tokens=332,
    input_audio_tokens=165,
    output_audio_tokens=42,
)


def test_gemini_usage_per_turn_from_text_and_binary_frames():
    live = session("google")
    frame = json.dumps(GEMINI_USAGE)
    assert live.upstream_text(frame) is frame
    data = frame.encode()
    assert live.upstream_bytes(data) is data
    live.upstream_bytes(b"\x00not json usageMetadata")  # never raises
    live.upstream_text(json.dumps({"serverContent": {"turnComplete": True}}))
    assert live.usage == GEMINI_EXPECTED + GEMINI_EXPECTED


def test_gemini_setup_names_the_model_and_is_checked_once():
    live = session("google", allowed=("gemini-2.5-*",))
    assert live.inspects_client_text
    setup = json.dumps({"setup": {"model": "models/gemini-2.5-flash-live"}})
    assert live.client_text(setup) is setup
    assert live.model == "gemini-2.5-flash-live"
    assert not live.inspects_client_text  # later frames skip the call

    refused = session("google", allowed=("gemini-2.5-*",))
    with pytest.raises(AccessDenied) as caught:
        refused.client_text(json.dumps({"setup": {"model": "models/gemini-3-pro"}}))
    assert caught.value.code == "model_not_allowed"


def test_cartesia_counts_characters_and_audio_per_context():
    tts = session("cartesia", allowed=("sonic*",))
    request_frame = json.dumps(
        {
            "model_id": "sonic-2",
            "transcript": "Hello there",
            "context_id": "c1",
            "output_format": {"encoding": "pcm_s16le", "sample_rate": 16000},
        }
    )
    assert tts.client_text(request_frame) is request_frame
    tts.upstream_text(
        json.dumps({"type": "chunk", "data": b64(3200), "context_id": "c1"})
    )
    tts.upstream_text(
        json.dumps({"type": "chunk", "data": b64(1600), "context_id": "c1"})
    )
    tts.upstream_text(
        json.dumps({"type": "timestamps", "done": False, "context_id": "c1"})
    )
    tts.upstream_text(json.dumps({"type": "done", "done": True, "context_id": "c1"}))
    assert tts.usage == Usage(
        responses=1,
        characters=11,
        audio_chunks=2,
        audio_seconds=tts.usage.audio_seconds,
    )
    assert tts.usage.audio_seconds == pytest.approx(0.15)
    assert tts.model == "sonic-2"
    with pytest.raises(AccessDenied):
        tts.client_text(json.dumps({"model_id": "other", "transcript": "x"}))


@pytest.mark.parametrize(
    ("output_format", "seconds"),
    [("pcm_16000", 1.0), ("ulaw_8000", 4.0), ("mp3_44100_128", 2.0), ("", 2.0)],
)
def test_elevenlabs_tts_counts_text_and_audio_by_format(output_format, seconds):
    query = [("voice_id", "v")] + (
        [("output_format", output_format)] if output_format else []
    )
    tts = session("elevenlabs", query=query)
    for text in (" ", "Hello ", "world", ""):
        tts.client_text(json.dumps({"text": text}))
    tts.upstream_text(json.dumps({"audio": b64(32000), "isFinal": False}))
    tts.upstream_text(json.dumps({"isFinal": True}))
    assert tts.usage == Usage(
        responses=1, characters=11, audio_chunks=1, audio_seconds=seconds
    )


def test_elevenlabs_agent_counts_audio_in_the_announced_format():
    agent = session("elevenlabs", query=[("agent_id", "a1")])
    assert not agent.inspects_client_text
    agent.upstream_text(
        json.dumps(
            {
                "type": "conversation_initiation_metadata",
                "conversation_initiation_metadata_event": {
                    "conversation_id": "c",
                    "agent_output_audio_format": "pcm_24000",
                },
            }
        )
    )
    agent.upstream_text(
        json.dumps({"type": "audio", "audio_event": {"audio_base_64": b64(48000)}})
    )
    agent.upstream_text(
        json.dumps(
            {"type": "agent_response", "agent_response_event": {"agent_response": "Hi"}}
        )
    )
    assert agent.usage == Usage(responses=1, audio_chunks=1, audio_seconds=1.0)


def test_openai_translates_only_when_dialects_differ():
    named = "gpt-realtime"  # no allow-list, a model named: nothing to read
    assert not session("openai", model=named).inspects_client_text
    assert session("openai", model=named, dialect="beta").inspects_client_text
    ga_on_beta = session("openai", model=named, options={"protocol": "beta"})
    assert ga_on_beta.inspects_client_text
    delta = '{"type":"response.text.delta","delta":"hi"}'
    assert json.loads(ga_on_beta.upstream_text(delta))["type"] == (
        "response.output_text.delta"
    )

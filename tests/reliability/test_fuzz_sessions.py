"""Property-based tests of the frame handlers a client or a provider can feed anything.

- Every provider's per-session frame handler: upstream frames come back as the
  same object (unless a dialect translator rewrites them), `client_text` raises
  nothing but a GatewayError, and usage never counts below zero.
- The OpenAI beta dialect translators never raise.

No I/O and no database: each example is a few microseconds of parsing.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from keys.values import Secret
from realtime.dialects.openai_beta import BetaClientOnGA, GAClientOnBeta
from realtime.exceptions import GatewayError
from realtime.providers import ConnectRequest, ProviderSession, adapter_for
from realtime.usage import Usage
from tests.support.fuzzing import BOUNDED

pytestmark = pytest.mark.timeout(120)

# name -> (kind, connect-request fields, whether a dialect translator rewrites frames)
VARIANTS: dict[str, tuple[str, dict, bool]] = {
    "openai": ("openai", {}, False),
    "openai/beta-client": ("openai", {"dialect": "beta"}, True),
    "openai/beta-upstream": ("openai", {"options": {"protocol": "beta"}}, True),
    "azure": ("azure", {"options": {"resource": "contoso"}}, False),
    "azure/beta-client": (
        "azure",
        {"options": {"resource": "contoso"}, "dialect": "beta"},
        True,
    ),
    "google": ("google", {}, False),
    "cartesia": ("cartesia", {}, False),
    "elevenlabs/tts": ("elevenlabs", {"query": (("voice_id", "v"),)}, False),
    "elevenlabs/agent": ("elevenlabs", {"query": (("agent_id", "a"),)}, False),
}
MODELS = ("gpt-realtime", "gemini-2.5-flash", "sonic-2", "eleven_flash_v2_5", "")


def open_session(
    variant: str, *, allowed: tuple[str, ...] = (), output_format: str | None = None
) -> tuple[ProviderSession, bool]:
    """A fresh session of `variant`, built the way the consumer builds one."""
    kind, fields, translating = VARIANTS[variant]
    adapter = adapter_for(kind)
    options = fields.get("options", {})
    query = tuple(fields.get("query", ()))
    if output_format is not None:
        query += (("output_format", output_format),)
    request = ConnectRequest(
        base_url=adapter.upstream_url("", options),
        credential=Secret("sk-fuzz"),
        query=query,
        subprotocols=(),
        options=options,
        dialect=fields.get("dialect", "ga"),
    )
    model = adapter.handshake_model(query, options) or ""
    session = adapter.open_session(model=model, request=request, allowed_models=allowed)
    return session, translating


# Keys and values the parsers look for, so random JSON often reaches them.
KEYS = (
    "type", "response", "usage", "usageMetadata", "input_tokens", "output_tokens",
    "total_tokens", "input_token_details", "output_token_details", "cached_tokens",
    "cached_tokens_details", "text_tokens", "audio_tokens", "seconds",
    "promptTokenCount", "responseTokenCount", "totalTokenCount",
    "cachedContentTokenCount", "toolUsePromptTokenCount", "thoughtsTokenCount",
    "promptTokensDetails", "cacheTokensDetails", "responseTokensDetails",
    "modality", "tokenCount", "chunk", "data", "context_id", "done", "audio",
    "isFinal", "audio_event", "audio_base_64", "agent_response",
    "conversation_initiation_metadata_event", "agent_output_audio_format",
    "transcript", "model_id", "output_format", "encoding", "sample_rate", "setup",
    "model", "text", "session", "item", "content", "part", "delta", "modalities",
    "output_modalities", "voice", "input_audio_format", "turn_detection",
)  # fmt: skip
STRINGS = (
    "response.done", "response.created", "chunk", "done", "duration", "tokens",
    "conversation.item.input_audio_transcription.completed", "TEXT", "AUDIO",
    "audio", "text", "pcm_s16le", "pcm_f32le", "pcm_16000", "pcm_24000",
    "ulaw_8000", "mp3_44100_128", "opus_48000_64", "models/gemini-2.5-flash",
    "sonic-2", "=", "==", "A=", "AAAA", "AA==", "realtime",
    "conversation_initiation_metadata", "agent_response", "audio_event",
    "session.created", "session.update", "response.create",
    "response.output_text.delta", "response.text.delta",
    "response.output_audio.delta", "response.audio.delta",
    "conversation.item.added", "conversation.item.created", "output_text",
    "output_audio", "input_audio_buffer.append", "error", "pcm16", "g711_ulaw",
)  # fmt: skip
EVENT_TYPES = st.one_of(st.sampled_from(STRINGS), st.text(max_size=12))

numbers = st.one_of(
    st.integers(-(2**70), 2**70),
    st.integers(-5, 5),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.sampled_from(["3", "", "1e3"]),
)
scalars = st.one_of(numbers, st.sampled_from(STRINGS), st.text(max_size=16))
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), children, max_size=5
        ),
    ),
    max_leaves=25,
)
audio_payloads = st.one_of(st.text("AQgw+/=", max_size=12), st.text(max_size=20))


def some(strategy: st.SearchStrategy) -> st.SearchStrategy:
    """`strategy`, or any JSON value in its place (the wrong type, say)."""
    return st.one_of(strategy, json_values)


def optional(**fields: st.SearchStrategy) -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries({}, optional={k: some(v) for k, v in fields.items()})


openai_usage = optional(
    input_tokens=numbers,
    output_tokens=numbers,
    total_tokens=numbers,
    input_token_details=optional(
        cached_tokens=numbers,
        text_tokens=numbers,
        audio_tokens=numbers,
        cached_tokens_details=optional(text_tokens=numbers, audio_tokens=numbers),
    ),
    output_token_details=optional(text_tokens=numbers, audio_tokens=numbers),
)
modality_list = st.lists(
    optional(modality=st.sampled_from(["TEXT", "AUDIO", "text"]), tokenCount=numbers),
    max_size=3,
)
gemini_usage = optional(
    promptTokenCount=numbers,
    responseTokenCount=numbers,
    totalTokenCount=numbers,
    cachedContentTokenCount=numbers,
    toolUsePromptTokenCount=numbers,
    thoughtsTokenCount=numbers,
    promptTokensDetails=modality_list,
    cacheTokensDetails=modality_list,
    responseTokensDetails=modality_list,
)
contexts = st.sampled_from(["c1", "c2", ""])
formats = st.one_of(
    st.sampled_from(STRINGS),
    st.builds(
        lambda codec, numbers: "_".join([codec, *map(str, numbers)]),
        st.sampled_from(["pcm", "ulaw", "alaw", "mp3", "opus", "wav"]),
        st.lists(st.integers(-(10**6), 10**6), max_size=3),
    ),
    st.text(max_size=16),
)


def event(kind: str | st.SearchStrategy, **fields: st.SearchStrategy):
    kinds = st.just(kind) if isinstance(kind, str) else kind
    return st.builds(
        lambda k, body: {"type": k, **body}, kinds, st.fixed_dictionaries(fields)
    )


shaped_events = st.one_of(
    # OpenAI and Azure
    event("response.done", response=some(optional(usage=openai_usage))),
    event(
        "conversation.item.input_audio_transcription.completed",
        usage=some(
            optional(
                type=st.sampled_from(["duration", "tokens"]),
                seconds=numbers,
                total_tokens=numbers,
                input_tokens=numbers,
                output_tokens=numbers,
            )
        ),
    ),
    # Gemini (its messages carry no type; a stray one is harmless)
    st.builds(lambda usage: {"usageMetadata": usage}, some(gemini_usage)),
    st.builds(
        lambda setup: {"setup": setup}, some(optional(model=st.sampled_from(MODELS)))
    ),
    # Cartesia
    event("chunk", data=some(audio_payloads), context_id=some(contexts)),
    event("done", done=st.booleans(), context_id=some(contexts)),
    st.builds(
        dict,
        transcript=some(st.text(max_size=20)),
        model_id=some(st.sampled_from(MODELS)),
        context_id=some(contexts),
        output_format=some(
            optional(
                encoding=st.sampled_from(
                    ["pcm_s16le", "pcm_f32le", "pcm_mulaw", "mp3"]
                ),
                sample_rate=numbers,
            )
        ),
    ),
    # ElevenLabs text-to-speech and agents
    st.builds(dict, audio=some(audio_payloads), isFinal=some(st.booleans())),
    st.builds(dict, text=some(st.text(max_size=20))),
    event(
        "conversation_initiation_metadata",
        conversation_initiation_metadata_event=some(
            optional(agent_output_audio_format=formats)
        ),
    ),
    event("audio", audio_event=some(optional(audio_base_64=audio_payloads))),
    event("agent_response", agent_response_event=json_values),
    # Anything else, typed like an event
    event(EVENT_TYPES, body=json_values),
    st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), json_values),
)


def encode(value: object, compact: bool, ascii_only: bool) -> str:
    separators = (",", ":") if compact else (", ", ": ")
    return json.dumps(value, separators=separators, ensure_ascii=ascii_only)


json_texts = st.builds(
    encode,
    st.one_of(shaped_events, json_values),
    st.booleans(),
    st.booleans(),
)
texts = st.one_of(
    json_texts,
    st.text(max_size=200),
    # Truncated JSON and substrings that pass the cheap checks but do not decode.
    st.builds(lambda t, cut: t[:cut], json_texts, st.integers(0, 200)),
    st.sampled_from(
        [
            '"response.done"',
            '{"type":"response.done"',
            '"usageMetadata"',
            '{"type":"response.output_audio.delta"}',
            '{"type":"response.output_audio.delta","delta":[}',
            "transcription.completed",
            '"chunk" "done" "audio" "isFinal" "audio_event"',
            "[]",
            "null",
            "\ud800",
        ]
    ),
)
binaries = st.one_of(
    st.binary(max_size=200),
    json_texts.map(lambda t: t.encode("utf-8", "surrogatepass")),
    json_texts.map(lambda t: t.encode("utf-16")),
    st.builds(
        lambda a, b: a + b'"usageMetadata"' + b,
        st.binary(max_size=20),
        st.binary(max_size=20),
    ),
)
frames = st.lists(
    st.one_of(
        st.tuples(st.just("client"), texts),
        st.tuples(st.just("upstream"), texts),
        st.tuples(st.just("upstream-bytes"), binaries),
    ),
    max_size=15,
)
allowed_models = st.lists(
    st.sampled_from(["gpt-realtime*", "gemini-2.5-*", "sonic-2", "eleven*", "x"]),
    max_size=2,
).map(tuple)


def feed(session: ProviderSession, translating: bool, direction: str, frame) -> bool:
    """One frame through the session as the bridge passes it; False once the
    session would end (a GatewayError from a client frame)."""
    if direction == "client":
        if not session.inspects_client_text:  # the bridge skips the call
            return True
        try:
            out = session.client_text(frame)
        except GatewayError:
            return False
        assert isinstance(out, str)
        assert translating or out is frame
    elif direction == "upstream":
        out = session.upstream_text(frame)
        assert isinstance(out, str)
        assert translating or out is frame
    else:
        assert session.upstream_bytes(frame) is frame
    return True


@BOUNDED
@given(
    variant=st.sampled_from(sorted(VARIANTS)),
    allowed=allowed_models,
    output_format=st.one_of(st.none(), formats),
    sequence=frames,
)
def test_sessions_pass_frames_through_and_raise_only_gateway_errors(
    variant, allowed, output_format, sequence
):
    session, translating = open_session(
        variant, allowed=allowed, output_format=output_format
    )
    for direction, frame in sequence:
        if not feed(session, translating, direction, frame):
            break


INTEGER_FIELDS = [f.name for f in dataclasses.fields(Usage) if f.type == "int"]


@BOUNDED
@given(
    variant=st.sampled_from(sorted(VARIANTS)),
    allowed=allowed_models,
    output_format=st.one_of(st.none(), formats),
    sequence=frames,
)
def test_integer_usage_counters_never_go_negative(
    variant, allowed, output_format, sequence
):
    session, translating = open_session(
        variant, allowed=allowed, output_format=output_format
    )
    for direction, frame in sequence:
        if not feed(session, translating, direction, frame):
            break
        usage = session.usage
        assert all(getattr(usage, name) >= 0 for name in INTEGER_FIELDS), usage


SECONDS_FIELDS = {
    "transcription_seconds",
    "audio_seconds",
    "active_seconds",
    "standby_seconds",
    "translation_seconds",
}


def test_every_integer_field_is_checked():
    assert len(INTEGER_FIELDS) == len(dataclasses.fields(Usage)) - len(SECONDS_FIELDS)
    assert SECONDS_FIELDS.isdisjoint(INTEGER_FIELDS)
    assert {f.name for f in dataclasses.fields(Usage)} >= SECONDS_FIELDS


@BOUNDED
@given(
    variant=st.sampled_from(sorted(VARIANTS)),
    seconds=numbers,
    sequence=frames,
)
def test_transcription_seconds_never_go_negative(variant, seconds, sequence):
    session, translating = open_session(variant)
    done = {
        "type": "conversation.item.input_audio_transcription.completed",
        "usage": {"type": "duration", "seconds": seconds},
    }
    for direction, frame in [*sequence, ("upstream", json.dumps(done))]:
        if not feed(session, translating, direction, frame):
            break
        assert session.usage.transcription_seconds >= 0


TTS_VARIANTS = ("cartesia", "elevenlabs/tts", "elevenlabs/agent")
PCM_16K = {"encoding": "pcm_s16le", "sample_rate": 16000}


def audio_message(variant: str, payload: object) -> str:
    """One base64 audio message back from a TTS provider."""
    if variant == "cartesia":
        return json.dumps({"type": "chunk", "data": payload, "context_id": "c1"})
    if variant == "elevenlabs/tts":
        return json.dumps({"audio": payload, "isFinal": False})
    return json.dumps({"type": "audio", "audio_event": {"audio_base_64": payload}})


@BOUNDED
@example(variant="elevenlabs/tts", payload="=")
@example(variant="cartesia", payload="==")
@given(variant=st.sampled_from(TTS_VARIANTS), payload=audio_payloads)
def test_audio_seconds_never_go_negative(variant, payload):
    session, _ = open_session(variant)
    if variant == "cartesia":  # the request sets the context's output format
        request = {"transcript": "hi", "context_id": "c1", "output_format": PCM_16K}
        session.client_text(json.dumps(request))
    session.upstream_text(audio_message(variant, payload))
    assert session.usage.audio_seconds >= 0, (payload, session.usage)


@BOUNDED
@example(source="client", output_format="pcm_-16000")
@example(source="upstream", output_format="mp3_44100_-128")
@example(
    source="client", output_format="pcm_\u00b2"
)  # a digit to isdigit(), not to int()
@given(source=st.sampled_from(["client", "upstream"]), output_format=formats)
def test_audio_formats_never_make_seconds_negative(source, output_format):
    if source == "client":
        session, _ = open_session("elevenlabs/tts", output_format=output_format)
        session.upstream_text(audio_message("elevenlabs/tts", "AAAA"))
    else:
        session, _ = open_session("elevenlabs/agent")
        metadata = {
            "type": "conversation_initiation_metadata",
            "conversation_initiation_metadata_event": {
                "agent_output_audio_format": output_format
            },
        }
        session.upstream_text(json.dumps(metadata))
        session.upstream_text(audio_message("elevenlabs/agent", "AAAA"))
    assert session.usage.audio_seconds >= 0, (output_format, session.usage)


# Every substring a parser checks before decoding, then a deeply nested value.
TRIGGERS = (
    '{"type":"response.done","x":"transcription.completed","usageMetadata":{},'
    '"chunk":"","done":"","audio":"","isFinal":"","audio_event":"",'
    '"setup":{"model":"m"},"transcript":"t","text":"t","deep":'
)


def nested(depth: int) -> str:
    return TRIGGERS + "[" * depth + "]" * depth + "}"


@settings(BOUNDED, max_examples=30)
@example(variant="cartesia", direction="client", depth=5_000)
@example(variant="openai", direction="upstream", depth=5_000)
@given(
    variant=st.sampled_from(sorted(VARIANTS)),
    direction=st.sampled_from(["client", "upstream", "upstream-bytes"]),
    depth=st.integers(1_000, 100_000),
)
def test_deeply_nested_frames_never_raise(variant, direction, depth):
    session, translating = open_session(variant)
    frame = nested(depth)
    if direction == "upstream-bytes":
        frame = frame.encode()
    feed(session, translating, direction, frame)


# --- the beta dialect translators -------------------------------------------------

TRANSLATORS = {
    "beta client -> GA": BetaClientOnGA().client_frame,
    "GA upstream -> beta client": BetaClientOnGA().upstream_frame,
    "GA client -> beta": GAClientOnBeta().client_frame,
    "beta upstream -> GA client": GAClientOnBeta().upstream_frame,
}
translator_inputs = st.one_of(
    texts,
    st.integers(0, 50_000).map(lambda depth: '{"type":"session.update","session":'
                               + "[" * depth + "]" * depth + "}"),
)  # fmt: skip


def is_json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except (ValueError, RecursionError):
        return False


@BOUNDED
@given(direction=st.sampled_from(sorted(TRANSLATORS)), text=translator_inputs)
def test_dialect_translators_never_raise(direction, text):
    out = TRANSLATORS[direction](text)
    assert isinstance(out, str)
    if not is_json_object(text) and not text.startswith('{"type":"'):
        assert out is text  # not an event: forwarded as it came
    if is_json_object(text):
        assert is_json_object(out)  # an event stays an event

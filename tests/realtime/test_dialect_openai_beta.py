"""Golden frames for the OpenAI beta <-> GA dialect translators."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from realtime.dialects import openai_beta
from realtime.dialects.openai_beta import (
    BetaClientOnGA,
    GAClientOnBeta,
    item_to_beta,
    item_to_ga,
    response_params_to_beta,
    response_params_to_ga,
    response_to_beta,
    response_to_ga,
    session_to_beta,
    session_to_ga,
)
from tests.support.openai_beta_frames import (
    BETA_ASSISTANT,
    BETA_RESPONSE,
    BETA_RESPONSE_PARAMS,
    BETA_SESSION,
    CALL,
    CALL_OUTPUT,
    CLIENT_EVENTS,
    GA_ASSISTANT,
    GA_RESPONSE,
    GA_RESPONSE_PARAMS,
    GA_SESSION,
    SERVER_EVENTS,
    USAGE,
    USER_ITEM,
)

beta_client = BetaClientOnGA()
ga_client = GAClientOnBeta()
TRANSLATIONS = {
    "beta client -> GA": beta_client.client_frame,
    "GA upstream -> beta": beta_client.upstream_frame,
    "GA client -> beta": ga_client.client_frame,
    "beta upstream -> GA": ga_client.upstream_frame,
}


def translated(translate, event: dict) -> dict:
    return json.loads(translate(json.dumps(event)))


def ids(cases) -> list[str]:
    return [case[0] for case in cases]


# -- Golden frames -----------------------------------------------------------


@pytest.mark.parametrize(("name", "beta", "ga"), CLIENT_EVENTS, ids=ids(CLIENT_EVENTS))
def test_client_events_beta_to_ga(name, beta, ga):
    assert translated(beta_client.client_frame, beta) == ga


@pytest.mark.parametrize(("name", "beta", "ga"), CLIENT_EVENTS, ids=ids(CLIENT_EVENTS))
def test_client_events_ga_to_beta(name, beta, ga):
    assert translated(ga_client.client_frame, ga) == beta


@pytest.mark.parametrize(("name", "ga", "beta"), SERVER_EVENTS, ids=ids(SERVER_EVENTS))
def test_server_events_ga_to_beta(name, ga, beta):
    assert translated(beta_client.upstream_frame, ga) == beta


@pytest.mark.parametrize(("name", "ga", "beta"), SERVER_EVENTS, ids=ids(SERVER_EVENTS))
def test_server_events_beta_to_ga(name, ga, beta):
    assert translated(ga_client.upstream_frame, beta) == ga


def test_session_golden_both_ways():
    assert session_to_ga(BETA_SESSION) == GA_SESSION
    assert session_to_beta(GA_SESSION) == BETA_SESSION


def test_response_objects_golden_both_ways():
    assert response_to_beta(GA_RESPONSE) == BETA_RESPONSE
    assert response_to_ga(BETA_RESPONSE) == GA_RESPONSE
    assert response_to_beta(GA_RESPONSE)["usage"] is USAGE  # untouched
    assert response_params_to_ga(BETA_RESPONSE_PARAMS) == GA_RESPONSE_PARAMS
    assert response_params_to_beta(GA_RESPONSE_PARAMS) == BETA_RESPONSE_PARAMS


def test_items_golden_both_ways():
    assert item_to_ga(BETA_ASSISTANT) == GA_ASSISTANT
    assert item_to_beta(GA_ASSISTANT) == BETA_ASSISTANT
    for same in (USER_ITEM, CALL, CALL_OUTPUT, {"type": "item_reference", "id": "i"}):
        assert item_to_ga(same) == same
        assert item_to_beta(same) == same


# One way only: what has no twin is dropped or left as it was.
ONE_WAY = [
    (
        "beta session.update temperature dropped",
        beta_client.client_frame,
        {"type": "session.update", "session": {"temperature": 0.8, "voice": "ash"}},
        {
            "type": "session.update",
            "session": {"type": "realtime", "audio": {"output": {"voice": "ash"}}},
        },
    ),
    (
        "beta session.created temperature dropped",
        ga_client.upstream_frame,
        {"type": "session.created", "session": {"temperature": 0.8, "model": "m"}},
        {"type": "session.created", "session": {"type": "realtime", "model": "m"}},
    ),
    (
        "beta response.create temperature dropped, max_output_tokens kept",
        beta_client.client_frame,
        {
            "type": "response.create",
            "response": {"temperature": 0.7, "max_output_tokens": 9},
        },
        {"type": "response.create", "response": {"max_output_tokens": 9}},
    ),
    (
        "beta response.done temperature dropped",
        ga_client.upstream_frame,
        {"type": "response.done", "response": {"temperature": 0.8, "usage": USAGE}},
        {"type": "response.done", "response": {"usage": USAGE}},
    ),
    (
        "beta modalities in any order",
        beta_client.client_frame,
        {"type": "session.update", "session": {"modalities": ["audio", "text"]}},
        {
            "type": "session.update",
            "session": {"type": "realtime", "output_modalities": ["audio"]},
        },
    ),
    (
        "GA conversation.item.created has no rename",
        beta_client.upstream_frame,
        {"type": "conversation.item.created", "item": GA_ASSISTANT},
        {"type": "conversation.item.created", "item": BETA_ASSISTANT},
    ),
    (
        "GA 16 kHz input format has no beta name",
        ga_client.client_frame,
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "audio": {
                    "input": {
                        "format": {"type": "audio/pcm", "rate": 16000},
                        "turn_detection": None,
                    },
                    "output": {"format": {"type": "audio/pcmu"}},
                },
            },
        },
        {
            "type": "session.update",
            "session": {
                "audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}},
                "turn_detection": None,
                "output_audio_format": "g711_ulaw",
            },
        },
    ),
    (
        "unknown beta format stays where it was",
        beta_client.client_frame,
        {"type": "session.update", "session": {"input_audio_format": "opus"}},
        {
            "type": "session.update",
            "session": {"type": "realtime", "input_audio_format": "opus"},
        },
    ),
]


@pytest.mark.parametrize(
    ("name", "translate", "event", "expected"), ONE_WAY, ids=ids(ONE_WAY)
)
def test_one_way(name, translate, event, expected):
    assert translated(translate, event) == expected


def test_transcription_session_is_left_alone():
    session = {"type": "transcription", "audio": {"input": {"format": None}}}
    assert session_to_beta(session) == session


def test_changed_frames_are_compact_and_keep_non_ascii():
    frame = json.dumps(
        {"type": "conversation.item.added", "event_id": "e1", "item": GA_ASSISTANT}
    ).replace("Hello", "Grüße")
    assert beta_client.upstream_frame(frame) == (
        '{"type":"conversation.item.created","event_id":"e1","item":{"type":"message",'
        '"role":"assistant","content":[{"type":"text","text":"Grüße"}]}}'
    )


def test_dict_functions_do_not_mutate():
    inputs = [BETA_SESSION, GA_SESSION, BETA_RESPONSE, GA_RESPONSE]
    inputs += [BETA_RESPONSE_PARAMS, GA_RESPONSE_PARAMS]
    before = copy.deepcopy(inputs)
    for function in (session_to_ga, session_to_beta, response_to_ga):
        for value in inputs:
            function(value)
    for function in (response_to_beta, response_params_to_ga, response_params_to_beta):
        for value in inputs:
            function(value)
    assert inputs == before


# -- Fast paths --------------------------------------------------------------

AUDIO = "UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQAAAAA=" * 200
FAST_RENAMES = [
    (ga, beta)
    for ga, beta in openai_beta.SERVER_EVENTS_TO_BETA.items()
    if ga != "conversation.item.added"
]


def compact(kind: str, body: str) -> str:
    return f'{{"type":"{kind}","event_id":"event_1","item_id":"item_1",{body}}}'


@pytest.mark.parametrize(("ga", "beta"), FAST_RENAMES)
def test_fast_renames_both_ways_without_decoding(monkeypatch, ga, beta):
    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded a fast-path frame")

    monkeypatch.setattr(openai_beta.json, "loads", no_decoding)
    body = f'"output_index":0,"content_index":0,"delta":"{AUDIO}"'
    assert beta_client.upstream_frame(compact(ga, body)) == compact(beta, body)
    assert ga_client.upstream_frame(compact(beta, body)) == compact(ga, body)


def test_fast_rename_leaves_content_alone():
    quoted = '\\"response.output_text.delta\\"'
    frame = '{"type":"response.output_text.delta","delta":"say ' + quoted + '"}'
    out = beta_client.upstream_frame(frame)
    assert json.loads(out) == {
        "type": "response.text.delta",
        "delta": 'say "response.output_text.delta"',
    }


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        # Whitespace, or `type` not first: decoded in full, then re-encoded.
        (
            '{"type": "response.output_audio.delta", "delta": "AAAA"}',
            '{"type":"response.audio.delta","delta":"AAAA"}',
        ),
        (
            '{"event_id":"e","type":"response.output_audio.delta","delta":"AAAA"}',
            '{"event_id":"e","type":"response.audio.delta","delta":"AAAA"}',
        ),
    ],
)
def test_unsure_fast_check_falls_back_to_decoding(frame, expected):
    assert beta_client.upstream_frame(frame) == expected


@pytest.mark.parametrize(
    ("translate", "frame"),
    [
        (beta_client.client_frame, compact("input_audio_buffer.append", '"a":"A"')),
        (ga_client.client_frame, compact("input_audio_buffer.append", '"a":"A"')),
        (beta_client.client_frame, '{"type":"input_audio_buffer.commit"}'),
        (beta_client.client_frame, '{"type":"response.cancel"}'),
        (ga_client.client_frame, '{"type":"output_audio_buffer.clear"}'),
        (beta_client.upstream_frame, '{"type":"input_audio_buffer.speech_started"}'),
        (ga_client.upstream_frame, '{"type":"rate_limits.updated","rate_limits":[]}'),
        # Decoded, but nothing to change.
        (beta_client.client_frame, '{ "type": "response.create" }'),
        (
            beta_client.client_frame,
            json.dumps({"type": "conversation.item.create", "item": USER_ITEM}),
        ),
        (ga_client.upstream_frame, json.dumps({"type": "x.new", "session": {}})),
        (
            beta_client.upstream_frame,
            json.dumps({"type": "response.output_item.done", "item": CALL}),
        ),
    ],
)
def test_unchanged_frames_are_the_same_object(translate, frame):
    assert translate(frame) is frame


def test_append_is_not_decoded(monkeypatch):
    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded input_audio_buffer.append")

    monkeypatch.setattr(openai_beta.json, "loads", no_decoding)
    frame = '{"type":"input_audio_buffer.append","audio":"' + AUDIO + '"}'
    assert beta_client.client_frame(frame) is frame
    assert ga_client.client_frame(frame) is frame


# -- Hostile input -----------------------------------------------------------

HOSTILE = [
    "",
    " ",
    "{",
    "not json",
    "[]",
    "[1, 2]",
    "null",
    "42",
    '"session.update"',
    '{"type":',
    '{"type":"',
    '{"type":"response.output_audio.delta"',  # truncated: fast path declines
    "[" * 100_000,
    '{"a":' * 50_000,
    "1" * 5_000,  # past Python's int-digit limit
    "{}",
    '{"type":null}',
    '{"type":["session.update"]}',
    '{"type":{"session.update":1}}',
    '{"type":"session.update","session":[]}',
    '{"type":"session.update","session":null}',
    '{"type":"response.create","response":"fast"}',
    '{"type":"conversation.item.create","item":[1]}',
    '{"type":"response.done","response":{"output":"x","audio":[]}}',
    '{"type":"response.content_part.added","part":["text"]}',
    '{"type":"session.created","session":{"type":["realtime"]}}',
]
CHANGED_HOSTILE = [
    '{"type":"session.update","session":{"audio":5,"modalities":"audio"}}',
    '{"type":"session.update","session":{"audio":{"input":7,"output":{"format":[]}}}}',
    '{"type":"session.update","session":{"output_modalities":[[1],"audio"]}}',
    '{"type":"conversation.item.create","item":{"content":[1,null,{"type":[1]},{"type":"text"}]}}',
    '{"type":"response.done","response":{"output":[1,{"content":"x"},{"type":"message","content":[{"type":"output_audio"}]}]}}',
    '{"type":"session.update","session":{"instructions":"\\ud800","voice":"ash"}}',
    '{"type":"session.update","session":{"voice":"ash","x":NaN}}',
    '{"type":"response.output_audio.delta","type":"session.update","session":{}}',
]


@pytest.mark.parametrize("name", TRANSLATIONS)
@pytest.mark.parametrize("frame", HOSTILE)
def test_hostile_frames_pass_through_unchanged(name, frame):
    assert TRANSLATIONS[name](frame) is frame


@pytest.mark.parametrize("name", TRANSLATIONS)
@pytest.mark.parametrize("frame", CHANGED_HOSTILE)
def test_hostile_objects_never_raise(name, frame):
    out = TRANSLATIONS[name](frame)
    assert isinstance(out, str)
    out.encode("utf-8")  # sendable as a text frame, lone surrogates escaped
    if out is not frame:
        json.loads(out)


@pytest.mark.parametrize("name", TRANSLATIONS)
@pytest.mark.parametrize("value", [None, b'{"type":"session.update"}', 5])
def test_non_text_is_returned_as_is(name, value):
    assert TRANSLATIONS[name](value) is value


KNOWN_TYPES = sorted(
    {
        *openai_beta.SERVER_EVENTS_TO_BETA,
        *openai_beta.SERVER_EVENTS_TO_GA,
        "session.update",
        "session.created",
        "response.create",
        "response.done",
        "conversation.item.create",
        "conversation.item.done",
        "response.content_part.added",
        "input_audio_buffer.append",
    }
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    *("type", "session", "response", "item", "part", "content"),
                    *("audio", "input", "output", "format", "modalities", "x"),
                    "output_modalities",
                ]
            ),
            children,
            max_size=5,
        )
    ),
    max_leaves=30,
)


@given(
    kind=st.sampled_from(KNOWN_TYPES) | json_values,
    body=st.dictionaries(
        st.sampled_from(["session", "response", "item", "part", "delta"]),
        json_values,
    ),
)
def test_arbitrary_events_never_raise(kind, body):
    frame = json.dumps({"type": kind, **body})
    for translate in TRANSLATIONS.values():
        out = translate(frame)
        assert out is frame or isinstance(json.loads(out), dict)


# -- Round trips -------------------------------------------------------------

words = st.text(max_size=12)
optional = st.none() | st.dictionaries(words, words, max_size=3)
beta_sessions = st.fixed_dictionaries(
    {},
    optional={
        "modalities": st.sampled_from([["text"], ["text", "audio"], ["audio", "text"]]),
        "voice": st.sampled_from(["alloy", "ash", "verse"]) | words,
        "input_audio_format": st.sampled_from(["pcm16", "g711_ulaw", "g711_alaw"]),
        "output_audio_format": st.sampled_from(["pcm16", "g711_ulaw", "g711_alaw"]),
        "input_audio_transcription": optional,
        "turn_detection": optional,
        "input_audio_noise_reduction": optional,
        "instructions": words,
        "tools": st.lists(st.fixed_dictionaries({"type": st.just("function")})),
        "tool_choice": st.sampled_from(["auto", "none", "required"]),
        "temperature": st.floats(0.6, 1.2),
        "max_response_output_tokens": st.integers(1, 4096) | st.just("inf"),
        "speed": st.floats(0.25, 1.5),
        "tracing": st.none() | st.just("auto"),
        "model": words,
    },
)


def modality_set(session: dict) -> dict:
    """Beta modalities as a set: audio always comes with its transcript."""
    if "modalities" not in session:
        return session
    modalities = set(session["modalities"])
    return {**session, "modalities": modalities | {"text"}}


@given(beta_sessions)
def test_beta_session_round_trips_through_ga(session):
    back = session_to_beta(session_to_ga(session))
    expected = {key: value for key, value in session.items() if key != "temperature"}
    assert modality_set(back) == modality_set(expected)


@given(beta_sessions)
def test_beta_session_update_round_trips_through_both_translators(session):
    frame = json.dumps({"type": "session.update", "session": session})
    back = json.loads(ga_client.client_frame(beta_client.client_frame(frame)))
    session.pop("temperature", None)
    assert modality_set(back["session"]) == modality_set(session)


@given(beta_sessions.map(lambda s: {**s, "modalities": ["text"]}))
def test_ga_session_round_trips_through_beta(session):
    ga = session_to_ga(session)
    assert session_to_ga(session_to_beta(ga)) == ga

from __future__ import annotations

import json

import pytest

from realtime.providers.openai import OpenAISession
from realtime.usage import NO_USAGE, Usage


def usage_of(*frames: str) -> Usage | None:
    """What an OpenAI session counts from upstream `frames` (None: nothing),
    checking that every frame passes through unchanged."""
    session = OpenAISession(model="gpt-realtime")
    for frame in frames:
        assert session.upstream_text(frame) is frame
    return None if session.usage == NO_USAGE else session.usage


# Recorded from the GA interface (shape of OpenAI's `response.done`).
RESPONSE_DONE = json.dumps(
    {
        "type": "response.done",
        "event_id": "event_CCXGt8G0pz5GPzCwd4fps",
        "response": {
            "object": "realtime.response",
            "id": "resp_CCXGs0RG2JgqbgwKhxmmt",
            "status": "completed",
            "output": [],
            "usage": {
                "total_tokens": 253,
                "input_tokens": 132,
                "output_tokens": 121,
                "input_token_details": {
                    "text_tokens": 119,
                    "audio_tokens": 13,
                    "image_tokens": 0,
                    "cached_tokens": 64,
                    "cached_tokens_details": {
                        "text_tokens": 64,
                        "audio_tokens": 0,
                        "image_tokens": 0,
                    },
                },
                "output_token_details": {"text_tokens": 30, "audio_tokens": 91},
            },
        },
    }
)


def test_response_done_usage_is_read_with_its_split():
    assert usage_of(RESPONSE_DONE) == Usage(
        responses=1,
        input_tokens=132,
        output_tokens=121,
        total_tokens=253,
        cached_tokens=64,
        cached_text_tokens=64,
        input_text_tokens=119,
        input_audio_tokens=13,
        output_text_tokens=30,
        output_audio_tokens=91,
    )


def test_spaced_json_is_read_too():
    spaced = json.dumps(json.loads(RESPONSE_DONE), indent=2)
    assert usage_of(spaced).total_tokens == 253


@pytest.mark.parametrize(
    "frame",
    [
        '{"type":"response.output_text.delta","delta":"hi"}',
        '{"type":"response.output_audio.delta","delta":"AAAA"}',
        '{"type":"session.created","session":{}}',
        "not json at all",
        "",
    ],
)
def test_frames_that_cannot_carry_usage_are_skipped(frame):
    assert usage_of(frame) is None


def test_frames_that_mention_response_done_but_are_not_it():
    mention = json.dumps(
        {"type": "response.output_text.delta", "delta": 'say "response.done"'}
    )
    assert usage_of(mention) is None
    assert usage_of('["response.done"]') is None
    assert usage_of('{"type":"response.done"') is None  # truncated


@pytest.mark.parametrize(
    "usage",
    [
        None,
        "lots",
        {"input_tokens": -5, "output_tokens": "7", "total_tokens": True},
        {"input_token_details": [1, 2], "output_token_details": None},
    ],
)
def test_hostile_usage_values_count_as_zero(usage):
    frame = json.dumps({"type": "response.done", "response": {"usage": usage}})
    parsed = usage_of(frame)
    assert parsed == Usage(responses=1)


def test_missing_total_is_derived():
    frame = json.dumps(
        {
            "type": "response.done",
            "response": {"usage": {"input_tokens": 3, "output_tokens": 4}},
        }
    )
    assert usage_of(frame).total_tokens == 7


def test_usage_adds_up_over_a_session():
    total = usage_of(RESPONSE_DONE, RESPONSE_DONE, RESPONSE_DONE)
    assert total.responses == 3
    assert total.total_tokens == 759
    assert total.cached_tokens == 192
    assert total.as_fields()["output_audio_tokens"] == 273


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        (
            {
                "type": "tokens",
                "input_tokens": 14,
                "output_tokens": 45,
                "total_tokens": 59,
                "input_token_details": {"text_tokens": 0, "audio_tokens": 14},
            },
            Usage(transcription_tokens=59),
        ),
        ({"type": "duration", "seconds": 2.5}, Usage(transcription_seconds=2.5)),
        ({"type": "duration", "seconds": "2.5"}, None),
    ],
)
def test_input_transcription_usage_is_counted(usage, expected):
    frame = json.dumps(
        {
            "type": "conversation.item.input_audio_transcription.completed",
            "event_id": "event_CCXGRvtUVrax5SJAnNOWZ",
            "item_id": "item_CCXGQ4e1ht4cOraEYcuR2",
            "content_index": 0,
            "transcript": "Hey, can you hear me?",
            "usage": usage,
        }
    )
    assert usage_of(frame) == expected


def test_image_tokens_and_their_cached_part_are_read():
    event = json.loads(RESPONSE_DONE)
    details = event["response"]["usage"]["input_token_details"]
    details["image_tokens"] = 765
    details["cached_tokens_details"]["image_tokens"] = 255
    usage = usage_of(json.dumps(event))
    assert (usage.input_image_tokens, usage.cached_image_tokens) == (765, 255)


# --- responses under way: what a session's end waits for ---------------------


def created(response_id: object, *, event_id_first: bool = False) -> str:
    response = {"object": "realtime.response", "id": response_id, "usage": None}
    head = {"event_id": "event_CCXGt8G0pz5GPzCwd4fps"}
    event = {"type": "response.created", "response": response}
    return json.dumps({**head, **event} if event_id_first else {**event, **head})


def done(response_id: object) -> str:
    event = json.loads(RESPONSE_DONE)
    event["response"]["id"] = response_id
    return json.dumps(event)


def test_a_response_is_awaited_from_created_to_done():
    session = OpenAISession(model="gpt-realtime")
    assert (session.awaiting_usage, session.stop_requests()) == (False, ())
    session.upstream_text(created("resp_1"))
    assert session.awaiting_usage
    assert [json.loads(r) for r in session.stop_requests()] == [
        {"type": "response.cancel", "response_id": "resp_1"}
    ]
    session.upstream_text('{"type":"response.output_text.delta","delta":"x"}')
    assert session.awaiting_usage
    session.upstream_text(done("resp_1"))
    assert (session.awaiting_usage, session.usage.responses) == (False, 1)


def test_responses_under_way_side_by_side_each_get_a_cancel():
    session = OpenAISession(model="gpt-realtime")
    session.upstream_text(created("resp_a"))
    session.upstream_text(created("resp_b", event_id_first=True))
    assert sorted(json.loads(r)["response_id"] for r in session.stop_requests()) == [
        "resp_a",
        "resp_b",
    ]
    session.upstream_text(done("resp_b"))
    assert [json.loads(r)["response_id"] for r in session.stop_requests()] == ["resp_a"]


@pytest.mark.parametrize("response_id", [None, 7, {"x": 1}, ["y"]])
def test_a_response_without_a_usable_id_is_cancelled_without_one(response_id):
    session = OpenAISession(model="gpt-realtime")
    session.upstream_text(created(response_id))
    assert session.stop_requests() == ('{"type":"response.cancel"}',)
    session.upstream_text(done(response_id))
    assert not session.awaiting_usage


def test_only_a_real_response_created_counts():
    session = OpenAISession(model="gpt-realtime")
    mention = json.dumps({"type": "error", "message": '"response.created"'})
    session.upstream_text(mention)
    late = json.dumps({"type": "x", "pad": "y" * 200, "t": '"response.created"'})
    session.upstream_text(late)  # past the head: not even decoded
    assert not session.awaiting_usage

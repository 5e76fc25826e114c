"""Recorded OpenAI Realtime frames, beta and GA, for the dialect translator tests.

Each beta shape is paired with its GA twin; the tables list client and server
events that translate into each other exactly.
"""

from __future__ import annotations

TOOLS = [
    {
        "type": "function",
        "name": "lookup",
        "description": "Look a word up.",
        "parameters": {"type": "object", "properties": {"word": {"type": "string"}}},
    }
]
TRANSCRIPTION = {"model": "whisper-1", "language": "en", "prompt": "Names: Åsa"}
TURN_DETECTION = {
    "type": "server_vad",
    "threshold": 0.5,
    "prefix_padding_ms": 300,
    "silence_duration_ms": 500,
    "create_response": True,
}

# A full beta session (everything but `temperature`, which GA lacks) and its
# GA twin: the two translate into each other exactly.
BETA_SESSION = {
    "modalities": ["text", "audio"],
    "instructions": "Be brief.",
    "voice": "alloy",
    "input_audio_format": "pcm16",
    "output_audio_format": "g711_ulaw",
    "input_audio_transcription": TRANSCRIPTION,
    "turn_detection": TURN_DETECTION,
    "input_audio_noise_reduction": {"type": "near_field"},
    "tools": TOOLS,
    "tool_choice": "auto",
    "max_response_output_tokens": 4096,
    "speed": 1.2,
    "tracing": "auto",
    "x_vendor": {"kept": True},
}
GA_SESSION = {
    "type": "realtime",
    "output_modalities": ["audio"],
    "instructions": "Be brief.",
    "audio": {
        "input": {
            "format": {"type": "audio/pcm", "rate": 24000},
            "transcription": TRANSCRIPTION,
            "turn_detection": TURN_DETECTION,
            "noise_reduction": {"type": "near_field"},
        },
        "output": {"format": {"type": "audio/pcmu"}, "voice": "alloy", "speed": 1.2},
    },
    "tools": TOOLS,
    "tool_choice": "auto",
    "max_output_tokens": 4096,
    "tracing": "auto",
    "x_vendor": {"kept": True},
}
# What the server says about a session: the same, plus its identity, plus
# GA-only fields that are carried across untouched.
SERVER_FIELDS = {
    "object": "realtime.session",
    "id": "sess_C9G5QPteg4UIbotdKLoYQ",
    "model": "gpt-realtime",
    "expires_at": 1756324625,
}
GA_ONLY = {"truncation": "auto", "include": None, "prompt": None}
BETA_SERVER_SESSION = {**SERVER_FIELDS, **BETA_SESSION, **GA_ONLY}
GA_SERVER_SESSION = {**SERVER_FIELDS, **GA_SESSION, **GA_ONLY}

USAGE = {
    "total_tokens": 253,
    "input_tokens": 132,
    "output_tokens": 121,
    "input_token_details": {
        "text_tokens": 119,
        "audio_tokens": 13,
        "cached_tokens": 64,
        "cached_tokens_details": {"text_tokens": 64, "audio_tokens": 0},
    },
    "output_token_details": {"text_tokens": 30, "audio_tokens": 91},
}


def message(role: str, *parts: tuple[str, str, str]) -> dict:
    """A message item with content parts given as (type, field, value)."""
    content = [{"type": kind, field: value} for kind, field, value in parts]
    return {"type": "message", "role": role, "content": content}


USER_ITEM = message(
    "user", ("input_text", "text", "Hi"), ("input_audio", "audio", "AA")
)
BETA_ASSISTANT = message("assistant", ("text", "text", "Hello"))
GA_ASSISTANT = message("assistant", ("output_text", "text", "Hello"))
BETA_SPOKEN = {
    "id": "item_1",
    "object": "realtime.item",
    "status": "completed",
    **message("assistant", ("audio", "transcript", "Hello there.")),
}
GA_SPOKEN = {
    **BETA_SPOKEN,
    "content": [{"type": "output_audio", "transcript": "Hello there."}],
}
CALL = {
    "id": "item_2",
    "type": "function_call",
    "call_id": "call_1",
    "name": "lookup",
    "arguments": '{"word":"text"}',
}
CALL_OUTPUT = {"type": "function_call_output", "call_id": "call_1", "output": "{}"}

BETA_RESPONSE_PARAMS = {
    "modalities": ["text"],
    "instructions": "Answer in one line.",
    "voice": "ash",
    "output_audio_format": "g711_alaw",
    "tools": TOOLS,
    "tool_choice": {"type": "function", "name": "lookup"},
    "max_response_output_tokens": 256,
    "conversation": "none",
    "metadata": {"topic": "words"},
    "input": [{"type": "item_reference", "id": "item_0"}, BETA_ASSISTANT, USER_ITEM],
}
GA_RESPONSE_PARAMS = {
    "output_modalities": ["text"],
    "instructions": "Answer in one line.",
    "audio": {"output": {"voice": "ash", "format": {"type": "audio/pcma"}}},
    "tools": TOOLS,
    "tool_choice": {"type": "function", "name": "lookup"},
    "max_output_tokens": 256,
    "conversation": "none",
    "metadata": {"topic": "words"},
    "input": [{"type": "item_reference", "id": "item_0"}, GA_ASSISTANT, USER_ITEM],
}

RESPONSE_COMMON = {
    "object": "realtime.response",
    "id": "resp_1",
    "status": "completed",
    "status_details": None,
    "conversation_id": "conv_1",
    "max_output_tokens": "inf",
    "metadata": None,
    "usage": USAGE,
}
BETA_RESPONSE = {
    **RESPONSE_COMMON,
    "output": [BETA_SPOKEN, CALL],
    "modalities": ["text", "audio"],
    "voice": "alloy",
    "output_audio_format": "pcm16",
}
GA_RESPONSE = {
    **RESPONSE_COMMON,
    "output": [GA_SPOKEN, CALL],
    "output_modalities": ["audio"],
    "audio": {
        "output": {"voice": "alloy", "format": {"type": "audio/pcm", "rate": 24000}}
    },
}

PART = {"event_id": "e", "response_id": "resp_1", "item_id": "item_1"}
PART |= {"output_index": 0, "content_index": 0}

# (name, beta event, GA event): each translates into the other exactly.
CLIENT_EVENTS = [
    (
        "session.update",
        {"type": "session.update", "event_id": "c1", "session": BETA_SESSION},
        {"type": "session.update", "event_id": "c1", "session": GA_SESSION},
    ),
    (
        "response.create",
        {"type": "response.create", "response": BETA_RESPONSE_PARAMS},
        {"type": "response.create", "response": GA_RESPONSE_PARAMS},
    ),
    (
        "conversation.item.create user",
        {"type": "conversation.item.create", "item": USER_ITEM},
        {"type": "conversation.item.create", "item": USER_ITEM},
    ),
    (
        "conversation.item.create assistant",
        {"type": "conversation.item.create", "previous_item_id": None}
        | {"item": BETA_ASSISTANT},
        {"type": "conversation.item.create", "previous_item_id": None}
        | {"item": GA_ASSISTANT},
    ),
    (
        "conversation.item.create function output",
        {"type": "conversation.item.create", "item": CALL_OUTPUT},
        {"type": "conversation.item.create", "item": CALL_OUTPUT},
    ),
    ("response.create bare", {"type": "response.create"}, {"type": "response.create"}),
    (
        "truncate",
        {"type": "conversation.item.truncate", "item_id": "i", "audio_end_ms": 5},
        {"type": "conversation.item.truncate", "item_id": "i", "audio_end_ms": 5},
    ),
    ("unknown", {"type": "x.new", "a": [1]}, {"type": "x.new", "a": [1]}),
]

# (name, GA event, beta event): each translates into the other exactly.
SERVER_EVENTS = [
    *(
        (ga, {"type": ga, **PART, **body}, {"type": beta, **PART, **body})
        for ga, beta, body in [
            ("response.output_text.delta", "response.text.delta", {"delta": "Hel"}),
            ("response.output_text.done", "response.text.done", {"text": "Hello"}),
            ("response.output_audio.delta", "response.audio.delta", {"delta": "AAA="}),
            ("response.output_audio.done", "response.audio.done", {}),
            (
                "response.output_audio_transcript.delta",
                "response.audio_transcript.delta",
                {"delta": "Hel"},
            ),
            (
                "response.output_audio_transcript.done",
                "response.audio_transcript.done",
                {"transcript": "Hello"},
            ),
        ]
    ),
    (
        "conversation.item.added",
        {"type": "conversation.item.added", "event_id": "e", "previous_item_id": None}
        | {"item": GA_SPOKEN},
        {"type": "conversation.item.created", "event_id": "e", "previous_item_id": None}
        | {"item": BETA_SPOKEN},
    ),
    *(
        (
            kind,
            {"type": kind, **body, "item": GA_SPOKEN},
            {"type": kind, **body, "item": BETA_SPOKEN},
        )
        for kind, body in [
            ("conversation.item.done", {"event_id": "e", "previous_item_id": "i"}),
            ("conversation.item.retrieved", {"event_id": "e"}),
            ("response.output_item.added", {"response_id": "r", "output_index": 0}),
            ("response.output_item.done", {"response_id": "r", "output_index": 0}),
        ]
    ),
    *(
        (
            f"{kind} {ga_part}",
            {"type": kind, **PART, "part": {"type": ga_part, field: "x"}},
            {"type": kind, **PART, "part": {"type": beta_part, field: "x"}},
        )
        for kind in ("response.content_part.added", "response.content_part.done")
        for ga_part, beta_part, field in [
            ("output_text", "text", "text"),
            ("output_audio", "audio", "transcript"),
        ]
    ),
    *(
        (
            kind,
            {"type": kind, "session": GA_SERVER_SESSION},
            {"type": kind, "session": BETA_SERVER_SESSION},
        )
        for kind in ("session.created", "session.updated")
    ),
    *(
        (
            kind,
            {"type": kind, "event_id": "e", "response": GA_RESPONSE},
            {"type": kind, "event_id": "e", "response": BETA_RESPONSE},
        )
        for kind in ("response.created", "response.done")
    ),
    (
        "error",
        {"type": "error", "error": {"type": "invalid_request_error", "message": "x"}},
        {"type": "error", "error": {"type": "invalid_request_error", "message": "x"}},
    ),
    (
        "response.function_call_arguments.done",
        {"type": "response.function_call_arguments.done", "arguments": "{}"},
        {"type": "response.function_call_arguments.done", "arguments": "{}"},
    ),
    ("unknown", {"type": "x.new", "item": 5}, {"type": "x.new", "item": 5}),
]

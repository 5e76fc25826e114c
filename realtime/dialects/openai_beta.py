"""OpenAI Realtime: the retired beta dialect (`OpenAI-Beta: realtime=v1`) <-> GA.

Pure: no I/O, no state. Two translators, one per pairing of client and upstream:

- `BetaClientOnGA`: a beta client (`@openai/realtime-api-beta`, older SDKs) on a
  GA upstream: beta client events -> GA, GA server events -> beta.
- `GAClientOnBeta`: a GA client on an upstream that still speaks beta (some Azure
  preview deployments): GA client events -> beta, beta server events -> GA.

What changes (checked against openai-python `types/realtime` for GA and
`types/beta/realtime` for beta):

- Server event names: `response.output_text.*` / `response.text.*`,
  `response.output_audio.*` / `response.audio.*`,
  `response.output_audio_transcript.*` / `response.audio_transcript.*`,
  `conversation.item.added` / `conversation.item.created`.
- Session: beta's flat audio fields live under GA's `audio.input` / `audio.output`;
  `modalities` is `output_modalities` (GA takes `["audio"]` or `["text"]`, beta
  `["text", "audio"]` or `["text"]`); `max_response_output_tokens` is
  `max_output_tokens`; GA has no `temperature`, so it is dropped; GA sessions
  carry `type: "realtime"`. Audio formats: `pcm16` is `{"type": "audio/pcm",
  "rate": 24000}`, `g711_ulaw` is `{"type": "audio/pcmu"}`, `g711_alaw` is
  `{"type": "audio/pcma"}`.
- `response.create`'s `response`, and the response objects in `response.created`
  and `response.done`: the same renames, with `voice` and `output_audio_format`
  under GA's `audio.output`. `usage` is the same in both.
- Assistant content parts: beta `text` / `audio` are GA `output_text` /
  `output_audio` (user parts, `input_text` / `input_audio`, are the same).

Anything else is kept: unknown fields and event types pass through, and a value
with no counterpart in the other dialect (a 16 kHz format, say) stays where it
was, so the far end reports it rather than the gateway guessing.

Frames are handled lazily. A frame that starts `{"type":"<name>"` with a name
known to need no change comes back as the same object without being decoded
(`input_audio_buffer.append` on the way up); one whose name only needs renaming
(`response.output_audio.delta`, several KB of base64, on the way down) has the
quoted name swapped by one `str.replace`: a quote inside a JSON string is always
escaped, so the quoted name cannot occur in the content. Such a frame is not
validated (a broken one stays broken). Every other frame is decoded in full; one
that is not a JSON object, or needs no change, comes back as the same object, and
a changed one is re-encoded compactly. Nothing here raises on what it is given.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

# -- Names -------------------------------------------------------------------

# GA server event -> beta twin. The reverse table maps beta -> GA.
SERVER_EVENTS_TO_BETA: Mapping[str, str] = {
    "response.output_text.delta": "response.text.delta",
    "response.output_text.done": "response.text.done",
    "response.output_audio.delta": "response.audio.delta",
    "response.output_audio.done": "response.audio.done",
    "response.output_audio_transcript.delta": "response.audio_transcript.delta",
    "response.output_audio_transcript.done": "response.audio_transcript.done",
    "conversation.item.added": "conversation.item.created",
}
SERVER_EVENTS_TO_GA: Mapping[str, str] = {
    beta: ga for ga, beta in SERVER_EVENTS_TO_BETA.items()
}

# Events that carry nothing to translate, so that a rename is all they need.
_CONTENTLESS_RENAMES = frozenset(SERVER_EVENTS_TO_BETA) - {"conversation.item.added"}
# event name -> (its quoted name, the quoted replacement), for str.replace.
_FAST_TO_BETA = {
    ga: (f'"{ga}"', f'"{SERVER_EVENTS_TO_BETA[ga]}"') for ga in _CONTENTLESS_RENAMES
}
_FAST_TO_GA = {
    SERVER_EVENTS_TO_BETA[ga]: (beta_token, ga_token)
    for ga, (ga_token, beta_token) in _FAST_TO_BETA.items()
}

# Events spelt and shaped the same in both dialects, with nothing inside that
# either translator changes: forwarded without decoding.
_SAME_CLIENT_EVENTS = frozenset(
    {
        "input_audio_buffer.append",
        "input_audio_buffer.commit",
        "input_audio_buffer.clear",
        "response.cancel",
        "conversation.item.truncate",
        "conversation.item.delete",
        "conversation.item.retrieve",
        "output_audio_buffer.clear",
    }
)
_SAME_SERVER_EVENTS = frozenset(
    {
        "error",
        "conversation.created",
        "conversation.item.deleted",
        "conversation.item.truncated",
        "conversation.item.input_audio_transcription.delta",
        "conversation.item.input_audio_transcription.completed",
        "conversation.item.input_audio_transcription.failed",
        "conversation.item.input_audio_transcription.segment",
        "input_audio_buffer.committed",
        "input_audio_buffer.cleared",
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.timeout_triggered",
        "output_audio_buffer.started",
        "output_audio_buffer.stopped",
        "output_audio_buffer.cleared",
        "rate_limits.updated",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
    }
)

_ITEM_EVENTS = frozenset(
    {
        "conversation.item.added",
        "conversation.item.created",
        "conversation.item.done",
        "conversation.item.retrieved",
        "response.output_item.added",
        "response.output_item.done",
    }
)
_PART_EVENTS = frozenset({"response.content_part.added", "response.content_part.done"})
_SESSION_EVENTS = frozenset({"session.created", "session.updated"})
_RESPONSE_EVENTS = frozenset({"response.created", "response.done"})

_PARTS_TO_GA = {"text": "output_text", "audio": "output_audio"}
_PARTS_TO_BETA = {ga: beta for beta, ga in _PARTS_TO_GA.items()}

# beta session field -> GA field under `audio.input` (values the same).
_INPUT_TO_GA = {
    "input_audio_transcription": "transcription",
    "turn_detection": "turn_detection",
    "input_audio_noise_reduction": "noise_reduction",
}
_INPUT_TO_BETA = {ga: beta for beta, ga in _INPUT_TO_GA.items()}

_MISSING: Any = object()  # no counterpart in the other dialect


# -- Values ------------------------------------------------------------------


def _format_to_ga(value: Any) -> Any:
    """A beta audio format (`pcm16`, ...) as a GA format object, or _MISSING."""
    if value is None:
        return None
    if value == "pcm16":
        return {"type": "audio/pcm", "rate": 24000}
    if value == "g711_ulaw":
        return {"type": "audio/pcmu"}
    if value == "g711_alaw":
        return {"type": "audio/pcma"}
    return _MISSING


def _format_to_beta(value: Any) -> Any:
    """A GA audio format object as a beta name (`pcm16`, ...), or _MISSING."""
    if value is None:
        return None
    if not isinstance(value, dict):
        return _MISSING
    kind = value.get("type")
    if kind == "audio/pcm" and value.keys() <= {"type", "rate"}:
        return "pcm16" if value.get("rate", 24000) == 24000 else _MISSING
    if kind == "audio/pcmu" and value.keys() == {"type"}:
        return "g711_ulaw"
    if kind == "audio/pcma" and value.keys() == {"type"}:
        return "g711_alaw"
    return _MISSING


def modalities_to_ga(value: Any) -> Any:
    """Beta `modalities` as GA `output_modalities`: audio implies its transcript."""
    if isinstance(value, list) and "audio" in value:
        return ["audio"]
    return value


def modalities_to_beta(value: Any) -> Any:
    """GA `output_modalities` as beta `modalities`: beta names the transcript."""
    if isinstance(value, list) and "audio" in value:
        return ["text", "audio"]
    return value


def _nest(out: dict, side: str, fields: dict) -> None:
    """Merge `fields` into `out["audio"][side]`, keeping what is already there."""
    if not fields:
        return
    audio = out.get("audio")
    audio = dict(audio) if isinstance(audio, dict) else {}
    current = audio.get(side)
    audio[side] = {**(current if isinstance(current, dict) else {}), **fields}
    out["audio"] = audio


def _unnest(audio: dict, out: dict) -> dict:
    """Lift GA `audio.input` / `audio.output` fields into `out` (beta names).

    Returns what has no beta counterpart, to be kept under `audio`.
    """
    left: dict = {}
    for side, fields in audio.items():
        if side not in ("input", "output") or not isinstance(fields, dict):
            left[side] = fields
            continue
        rest = {}
        for key, value in fields.items():
            beta = _format_to_beta(value) if key == "format" else _MISSING
            if key == "format" and beta is not _MISSING:
                out[f"{side}_audio_format"] = beta
            elif side == "input" and key in _INPUT_TO_BETA:
                out[_INPUT_TO_BETA[key]] = value
            elif side == "output" and key in ("voice", "speed"):
                out[key] = value
            else:
                rest[key] = value
        if rest:
            left[side] = rest
    return left


# -- Objects -----------------------------------------------------------------


def part_to_ga(part: Any) -> Any:
    """A beta content part in GA terms (assistant `text` -> `output_text`)."""
    return _retype(part, _PARTS_TO_GA)


def part_to_beta(part: Any) -> Any:
    """A GA content part in beta terms (`output_audio` -> `audio`)."""
    return _retype(part, _PARTS_TO_BETA)


def _retype(part: Any, names: Mapping[str, str]) -> Any:
    kind = part.get("type") if isinstance(part, dict) else None
    if isinstance(kind, str) and kind in names:
        return {**part, "type": names[kind]}
    return part


def item_to_ga(item: Any) -> Any:
    """A beta conversation item in GA terms (its assistant content parts)."""
    return _item(item, part_to_ga)


def item_to_beta(item: Any) -> Any:
    """A GA conversation item in beta terms (its assistant content parts)."""
    return _item(item, part_to_beta)


def _item(item: Any, part: Callable[[Any], Any]) -> Any:
    # `text`/`audio` (beta) and `output_text`/`output_audio` (GA) are assistant
    # part types only, so the part type alone says what to rename.
    if not isinstance(item, dict) or item.get("type", "message") != "message":
        return item
    content = item.get("content")
    if not isinstance(content, list):
        return item
    return {**item, "content": [part(p) for p in content]}


def _items(items: Any, item: Callable[[Any], Any]) -> Any:
    return [item(i) for i in items] if isinstance(items, list) else items


def session_to_ga(session: Any) -> Any:
    """A beta `session` object in the GA shape."""
    if not isinstance(session, dict):
        return session
    out: dict = {} if "type" in session else {"type": "realtime"}
    audio_in: dict = {}
    audio_out: dict = {}
    for key, value in session.items():
        if key == "modalities":
            out["output_modalities"] = modalities_to_ga(value)
        elif key == "max_response_output_tokens":
            out["max_output_tokens"] = value
        elif key == "temperature":
            continue
        elif key in ("voice", "speed"):
            audio_out[key] = value
        elif key in ("input_audio_format", "output_audio_format"):
            ga = _format_to_ga(value)
            if ga is _MISSING:
                out[key] = value
            else:
                (audio_in if key.startswith("input") else audio_out)["format"] = ga
        elif key in _INPUT_TO_GA:
            audio_in[_INPUT_TO_GA[key]] = value
        else:
            out[key] = value
    _nest(out, "input", audio_in)
    _nest(out, "output", audio_out)
    return out


def session_to_beta(session: Any) -> Any:
    """A GA `session` object in the beta shape (realtime sessions only)."""
    if not isinstance(session, dict) or session.get("type", "realtime") != "realtime":
        return session
    out: dict = {}
    for key, value in session.items():
        if key == "type":
            continue
        if key == "output_modalities":
            out["modalities"] = modalities_to_beta(value)
        elif key == "max_output_tokens":
            out["max_response_output_tokens"] = value
        elif key == "audio" and isinstance(value, dict):
            left = _unnest(value, out)
            if left:
                out["audio"] = left
        else:
            out[key] = value
    return out


def response_params_to_ga(params: Any) -> Any:
    """Beta `response.create` parameters in the GA shape."""
    return _response_to_ga(params, items="input")


def response_to_ga(response: Any) -> Any:
    """A beta response object (`response.created`/`.done`) in the GA shape."""
    return _response_to_ga(response, items="output")


def _response_to_ga(response: Any, *, items: str) -> Any:
    if not isinstance(response, dict):
        return response
    out: dict = {}
    audio_out: dict = {}
    for key, value in response.items():
        if key == "modalities":
            out["output_modalities"] = modalities_to_ga(value)
        elif key == "voice":
            audio_out["voice"] = value
        elif key == "output_audio_format":
            ga = _format_to_ga(value)
            if ga is _MISSING:
                out[key] = value
            else:
                audio_out["format"] = ga
        elif key == "max_response_output_tokens":
            out["max_output_tokens"] = value
        elif key == "temperature":
            continue
        elif key == items:
            out[key] = _items(value, item_to_ga)
        else:
            out[key] = value
    _nest(out, "output", audio_out)
    return out


def response_params_to_beta(params: Any) -> Any:
    """GA `response.create` parameters in the beta shape."""
    return _response_to_beta(
        params, items="input", max_tokens="max_response_output_tokens"
    )


def response_to_beta(response: Any) -> Any:
    """A GA response object (`response.created`/`.done`) in the beta shape."""
    # Beta's response object names its token cap `max_output_tokens`, as GA does.
    return _response_to_beta(response, items="output", max_tokens="max_output_tokens")


def _response_to_beta(response: Any, *, items: str, max_tokens: str) -> Any:
    if not isinstance(response, dict):
        return response
    out: dict = {}
    for key, value in response.items():
        if key == "output_modalities":
            out["modalities"] = modalities_to_beta(value)
        elif key == "max_output_tokens":
            out[max_tokens] = value
        elif key == "audio" and isinstance(value, dict):
            left = _unnest(value, out)
            if left:
                out["audio"] = left
        elif key == items:
            out[key] = _items(value, item_to_beta)
        else:
            out[key] = value
    return out


# -- Events ------------------------------------------------------------------


def client_event_to_ga(event: dict) -> dict:
    """A beta client event in GA terms."""
    return _client_event(event, session_to_ga, response_params_to_ga, item_to_ga)


def client_event_to_beta(event: dict) -> dict:
    """A GA client event in beta terms."""
    return _client_event(event, session_to_beta, response_params_to_beta, item_to_beta)


def _client_event(
    event: dict,
    session: Callable[[Any], Any],
    response: Callable[[Any], Any],
    item: Callable[[Any], Any],
) -> dict:
    kind = event.get("type")
    if kind == "session.update" and "session" in event:
        return {**event, "session": session(event["session"])}
    if kind == "response.create" and "response" in event:
        return {**event, "response": response(event["response"])}
    if kind == "conversation.item.create" and "item" in event:
        return {**event, "item": item(event["item"])}
    return event


def server_event_to_beta(event: dict) -> dict:
    """A GA server event in beta terms."""
    return _server_event(
        event,
        SERVER_EVENTS_TO_BETA,
        session_to_beta,
        response_to_beta,
        item_to_beta,
        part_to_beta,
    )


def server_event_to_ga(event: dict) -> dict:
    """A beta server event in GA terms."""
    return _server_event(
        event,
        SERVER_EVENTS_TO_GA,
        session_to_ga,
        response_to_ga,
        item_to_ga,
        part_to_ga,
    )


def _server_event(
    event: dict,
    names: Mapping[str, str],
    session: Callable[[Any], Any],
    response: Callable[[Any], Any],
    item: Callable[[Any], Any],
    part: Callable[[Any], Any],
) -> dict:
    kind = event.get("type")
    if not isinstance(kind, str):
        return event
    out = {**event, "type": names[kind]} if kind in names else event
    for kinds, field, translate in (
        (_SESSION_EVENTS, "session", session),
        (_RESPONSE_EVENTS, "response", response),
        (_ITEM_EVENTS, "item", item),
        (_PART_EVENTS, "part", part),
    ):
        if kind in kinds and field in event:
            return {**out, field: translate(event[field])}
    return out


# -- Frames ------------------------------------------------------------------

_PREFIX = '{"type":"'
_LONGEST_NAME = 64


def _leading_type(text: str) -> str | None:
    """The event name if `text` starts `{"type":"<name>"`, else None (unsure)."""
    if not text.startswith(_PREFIX):
        return None
    start = len(_PREFIX)
    end = text.find('"', start, start + _LONGEST_NAME)
    return text[start:end] if end > 0 else None


def translate_frame(
    text: str,
    translate: Callable[[dict], dict],
    *,
    same: frozenset[str],
    renames: Mapping[str, tuple[str, str]],
) -> str:
    """`text` translated by `translate`; the same object when nothing changes.

    `same` names events that need no change; `renames` maps the name of an
    event whose name is all that changes to its quoted name and the quoted
    replacement. Both apply only to a frame that starts `{"type":"<name>"`, and
    skip decoding.
    """
    if not isinstance(text, str):
        return text
    name = _leading_type(text)
    if name is not None:
        if name in same:
            return text
        rename = renames.get(name)
        if rename is not None and text.endswith("}"):
            return text.replace(*rename)
    try:
        event = json.loads(text)
        if not isinstance(event, dict):
            return text
        translated = translate(event)
        if translated == event:
            return text
    except (ValueError, RecursionError):  # not JSON; nested past Python's limit
        return text
    return _encode(translated, text)


def _encode(event: dict, original: str) -> str:
    try:
        out = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
        if not out.isascii():
            # A lone surrogate (decoded from a `\ud800` escape) has no UTF-8
            # form; keep it escaped, as it arrived, so the frame can be sent.
            out.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(event, separators=(",", ":"))
    except (ValueError, RecursionError):
        return original
    return out


class BetaClientOnGA:
    """A beta client talking to a GA upstream."""

    __slots__ = ()

    def client_frame(self, text: str) -> str:
        """A beta client frame, for the GA upstream."""
        return translate_frame(
            text, client_event_to_ga, same=_SAME_CLIENT_EVENTS, renames={}
        )

    def upstream_frame(self, text: str) -> str:
        """A GA upstream frame, for the beta client."""
        return translate_frame(
            text, server_event_to_beta, same=_SAME_SERVER_EVENTS, renames=_FAST_TO_BETA
        )


class GAClientOnBeta:
    """A GA client talking to a beta upstream."""

    __slots__ = ()

    def client_frame(self, text: str) -> str:
        """A GA client frame, for the beta upstream."""
        return translate_frame(
            text, client_event_to_beta, same=_SAME_CLIENT_EVENTS, renames={}
        )

    def upstream_frame(self, text: str) -> str:
        """A beta upstream frame, for the GA client."""
        return translate_frame(
            text, server_event_to_ga, same=_SAME_SERVER_EVENTS, renames=_FAST_TO_GA
        )

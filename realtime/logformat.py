"""How log lines look: plain text (the default) or, with GATEWAY_LOG_FORMAT=json,
one JSON object a line (python-json-logger).

A session's lines carry its id as the record's `session` attribute
(`realtime.recorder.session_log`): the plain format prefixes `[session ID]`,
the JSON format has a `session` field. The JSON object holds the fields below
and nothing else, so an `extra` some library attaches (uvicorn's
`color_message`, say) never reaches the output; tracebacks are masked like
messages (`realtime.redaction`), since the JSON formatter formats them anew.

Pure standard library and python-json-logger: `LOGGING` loads this module
before Django's apps.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from realtime.redaction import redact

# The fields of a JSON line, in order; `session`, `exc_info` and `stack_info`
# only where the record has one.
JSON_FIELDS = (
    "time",
    "level",
    "logger",
    "message",
    "session",
    "exc_info",
    "stack_info",
)


class PlainFormatter(logging.Formatter):
    """`time level logger message`, a session's lines prefixed `[session ID]`."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        """The line, with the session's prefix on its message."""
        session = getattr(record, "session", None)
        if session is not None:
            record = copy.copy(record)  # other handlers see the record unchanged
            record.message = f"[session {session}] {record.message}"
        return super().formatMessage(record)


class GatewayJsonFormatter(JsonFormatter):
    """One JSON object a line: time (ISO 8601, UTC), level, logger, message,
    session, exc_info, stack_info."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(
            "%(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="time",
        )

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        """Only the gateway's fields, in their order."""
        return {name: log_data[name] for name in JSON_FIELDS if name in log_data}

    def formatException(self, ei: Any) -> str:
        """The traceback, keys masked (the filter masked the record's copy)."""
        return redact(str(super().formatException(ei)))

    def formatStack(self, stack_info: str) -> str:
        """The stack, keys masked."""
        return redact(str(super().formatStack(stack_info)))

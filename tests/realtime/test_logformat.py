"""The two log formats: plain lines with the session prefix, and JSON lines with
the session as a field, nothing else, and no credential even in a traceback."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from realtime.logformat import GatewayJsonFormatter, PlainFormatter
from realtime.recorder import session_log
from realtime.redaction import CredentialFilter

TOKEN = "vk_" + "A1b2C3d4" * 5 + "xyz"


@pytest.fixture
def emit():
    """Log through `realtime.session` into a handler with `formatter` (and the
    credential filter, as in settings); returns the lines written."""
    logger = logging.getLogger("realtime.session")

    def _emit(formatter: logging.Formatter, write) -> list[str]:
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(formatter)
        handler.addFilter(CredentialFilter())
        logger.addHandler(handler)
        try:
            write()
        finally:
            logger.removeHandler(handler)
        return stream.getvalue().splitlines()

    return _emit


def test_plain_lines_prefix_the_session(emit):
    session = uuid.uuid4()
    formatter = PlainFormatter("%(levelname)s %(name)s %(message)s")
    lines = emit(formatter, lambda: session_log(session).info("ended %s", "finished"))
    assert lines == [f"INFO realtime.session [session {session}] ended finished"]
    refused = emit(formatter, lambda: session_log(None).warning("refused"))
    assert refused == ["WARNING realtime.session refused"]


def test_json_lines_carry_the_session_as_a_field(emit):
    session = uuid.uuid4()
    lines = emit(
        GatewayJsonFormatter(),
        lambda: session_log(session).info(
            "bridging to %s", "fake", extra={"color_message": "\x1b[1mnoise"}
        ),
    )
    (record,) = map(json.loads, lines)
    assert list(record) == ["time", "level", "logger", "message", "session"]
    assert record["time"].endswith("+00:00")
    assert (record["level"], record["logger"]) == ("INFO", "realtime.session")
    assert (record["message"], record["session"]) == ("bridging to fake", str(session))


def test_json_tracebacks_are_masked(emit):
    def fail() -> None:
        try:
            raise ValueError(f"upstream said: Authorization: Bearer {TOKEN}")
        except ValueError:
            session_log(uuid.uuid4()).exception("bridge fault")

    (line,) = emit(GatewayJsonFormatter(), fail)
    record = json.loads(line)
    assert "ValueError" in record["exc_info"]
    assert "Bearer ***" in record["exc_info"]
    assert TOKEN not in line


@pytest.mark.timeout(60)
def test_an_unknown_log_format_is_refused():
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "GATEWAY_LOG_FORMAT": "xml"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "GATEWAY_LOG_FORMAT must be plain or json" in result.stderr

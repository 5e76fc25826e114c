"""The README's example client talks to a real gateway on any port or URL."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(60),
]

HELLO = Path(__file__).resolve().parents[2] / "examples" / "hello.py"


async def _run_hello(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(HELLO),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    async with asyncio.timeout(30):
        output, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, output.decode()


@pytest.mark.parametrize("where", ["port", "url"])
async def test_hello_converses_through_the_gateway(daphne, fake_upstream, issue, where):
    issued = await issue(fake_upstream.url)
    if where == "port":
        args = ("--port", str(daphne.port))
    else:
        args = ("--url", f"ws://127.0.0.1:{daphne.port}/v1/realtime?model=gpt-realtime")
    code, output = await _run_hello(issued.token, *args)
    assert code == 0, output
    lines = output.splitlines()
    assert lines[0] == "session.created"
    assert "Hello, gateway!" in output
    assert lines[-1].startswith("usage: {")
    assert issued.token not in output

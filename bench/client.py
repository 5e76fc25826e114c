"""The bench's client side: frames, opening sessions, closing them, bounded.

Every session is a plain `websockets` client with compression and pings off (the
gateway's own legs run without compression too), so every target sees the same
bytes. A session counts as set up once the upstream's `session.created` event
has arrived through the target.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import random
import re
from collections.abc import AsyncIterator

from websockets.asyncio.client import ClientConnection, connect

from bench.targets import Endpoint

SMALL_FRAME_BYTES = 200
AUDIO_CHUNK_BYTES = 4800  # 100 ms of 24 kHz 16-bit mono PCM
MIB = 1024 * 1024
OPEN_TIMEOUT = 10.0
CLOSE_TIMEOUT = 30.0

_SESSION_ID = re.compile(r'"id":\s*"sess_(\d+)"')
_SENT_NS = re.compile(r'"t":\s*(\d+)')


class SessionFailed(Exception):
    """A session that did not open as the fake opens it."""


def echo_frame(size: int) -> str:
    """A `fake.echo` text frame of exactly size bytes (ASCII)."""
    head, tail = '{"type":"fake.echo","pad":"', '"}'
    return head + "x" * max(0, size - len(head) - len(tail)) + tail


def audio_chunk() -> str:
    """100 ms of (deterministic noise) PCM, base64, as a client would send it."""
    return base64.b64encode(random.Random(0).randbytes(AUDIO_CHUNK_BYTES)).decode()


def audio_frame(audio: str, *, sent_ns: int = 0) -> str:
    """A voice chunk the fake echoes, stamped with its send time."""
    return f'{{"type":"fake.echo","t":{sent_ns},"audio":"{audio}"}}'


def sent_ns_of(frame: str) -> int | None:
    """The send stamp of an echoed voice chunk (relays may re-serialise it)."""
    match = _SENT_NS.search(frame, 0, 64)
    return int(match.group(1)) if match else None


def session_number(created: str) -> int | None:
    """The fake's per-connection counter, from its `session.created` event."""
    match = _SESSION_ID.search(created)
    return int(match.group(1)) if match else None


async def open_session(
    endpoint: Endpoint, *, timeout: float = OPEN_TIMEOUT
) -> tuple[ClientConnection, str]:
    """Connect and wait for `session.created`; the connection and that event."""
    ws: ClientConnection | None = None
    try:
        async with asyncio.timeout(timeout):
            ws = await connect(
                endpoint.url,
                additional_headers=list(endpoint.headers),
                compression=None,
                max_size=None,
                ping_interval=None,
                open_timeout=None,  # bounded by the timeout above
                close_timeout=2,
            )
            created = await ws.recv()
    except BaseException:
        if ws is not None:
            ws.transport.abort()
        raise
    if not isinstance(created, str) or '"session.created"' not in created[:200]:
        ws.transport.abort()
        raise SessionFailed(f"first event was not session.created: {created[:80]!r}")
    return ws, created


async def open_many(
    endpoint: Endpoint, count: int, *, in_flight: int
) -> list[ClientConnection]:
    """Open count sessions, at most in_flight at a time; all or SessionFailed."""
    opened: list[ClientConnection] = []
    numbers = iter(range(count))

    async def worker() -> None:
        for _ in numbers:
            ws, _created = await open_session(endpoint)
            opened.append(ws)

    workers = [asyncio.create_task(worker()) for _ in range(min(in_flight, count))]
    try:
        await asyncio.gather(*workers)
    except BaseException:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        await close_all(opened)
        raise
    return opened


async def close_all(sessions: list[ClientConnection], *, in_flight: int = 200) -> None:
    """Close sessions with a close handshake; abort whatever is left at the limit."""
    gate = asyncio.Semaphore(in_flight)

    async def close(ws: ClientConnection) -> None:
        async with gate:
            await ws.close()

    tasks = [asyncio.create_task(close(ws)) for ws in sessions]
    try:
        if tasks:
            await asyncio.wait(tasks, timeout=CLOSE_TIMEOUT)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for ws in sessions:
            ws.transport.abort()


@contextlib.asynccontextmanager
async def sessions(
    endpoint: Endpoint, count: int, *, in_flight: int
) -> AsyncIterator[list[ClientConnection]]:
    """Open count sessions for the block; always close them after."""
    opened = await open_many(endpoint, count, in_flight=in_flight)
    try:
        yield opened
    finally:
        await close_all(opened)

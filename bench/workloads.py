"""Each measurement, against one endpoint, bounded in count and time.

Every function opens what it needs, measures, and closes it again (in a
`finally`), returning plain numbers; the arithmetic lives in `bench.stats`.
CPU and RSS are read from /proc for the endpoint's process (for `direct`, the
fake upstream itself); "frames" always counts both directions, so one echo
through a relay is two forwarded frames.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from bench import stats
from bench.client import (
    MIB,
    echo_frame,
    open_session,
    session_number,
    sessions,
)
from bench.procs import cpu_seconds, rss_kib
from bench.targets import Endpoint

WARMUP_ROUND_TRIPS = 50
IDLE_SETTLE_SECONDS = 1.5


class WrongReply(Exception):
    """A reply that is not the echo the client waited for."""


async def _round_trip(ws: ClientConnection, frame: str) -> None:
    await ws.send(frame)
    reply = await ws.recv()
    if not isinstance(reply, str) or '"fake.echo"' not in reply[:48]:
        raise WrongReply(f"expected an echo, got {str(reply)[:80]!r}")


@dataclass(frozen=True, slots=True)
class Latency:
    """Sequential round trips of one frame size, and the server's CPU for them."""

    summary: stats.Summary
    cpu_us_per_frame: float | None


async def sequential(
    endpoint: Endpoint, *, size: int, count: int, warmup: int = WARMUP_ROUND_TRIPS
) -> Latency:
    """count round trips of a size-byte echo, one at a time, on one session."""
    frame = echo_frame(size)
    ws, _created = await open_session(endpoint)
    try:
        for _ in range(warmup):
            await _round_trip(ws, frame)
        samples: list[float] = []
        cpu_before = cpu_seconds(endpoint.pid)
        for _ in range(count):
            started = time.perf_counter()
            await _round_trip(ws, frame)
            samples.append((time.perf_counter() - started) * 1000)
        cpu = cpu_seconds(endpoint.pid) - cpu_before
    finally:
        await ws.close()
    return Latency(
        summary=stats.summarize(samples),
        cpu_us_per_frame=stats.per_unit(cpu * 1e6, 2 * count),
    )


@dataclass(frozen=True, slots=True)
class Throughput:
    """Echoes per second over concurrent sessions, and the server's CPU for them."""

    messages_per_second: float | None
    cpu_us_per_frame: float | None
    frames: int  # forwarded during the measured window, both ways
    seconds: float  # the measured window


async def throughput(
    endpoint: Endpoint, *, session_count: int, seconds: float, size: int = 200
) -> Throughput:
    """session_count sessions each echoing back to back for seconds."""
    frame = echo_frame(size)
    done = [0] * session_count

    async def loop(index: int, ws: ClientConnection) -> None:
        while True:
            await _round_trip(ws, frame)
            done[index] += 1

    async with sessions(endpoint, session_count, in_flight=10) as opened:
        tasks = [asyncio.create_task(loop(i, ws)) for i, ws in enumerate(opened)]
        try:
            await asyncio.sleep(0.5)  # warm up
            _raise_first_failure(tasks)
            count_before, cpu_before = sum(done), cpu_seconds(endpoint.pid)
            started = time.perf_counter()
            await asyncio.sleep(seconds)
            _raise_first_failure(tasks)
            count = sum(done) - count_before
            cpu = cpu_seconds(endpoint.pid) - cpu_before
            elapsed = time.perf_counter() - started
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    return Throughput(
        messages_per_second=stats.rate(count, elapsed),
        cpu_us_per_frame=stats.per_unit(cpu * 1e6, 2 * count),
        frames=2 * count,
        seconds=elapsed,
    )


def _raise_first_failure(tasks: list[asyncio.Task]) -> None:
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            raise task.exception()


async def idle_memory(endpoint: Endpoint, *, count: int) -> float | None:
    """RSS growth of the server per idle bridged session, in KiB."""
    async with sessions(endpoint, 20, in_flight=10):
        pass  # warm up: first-connection imports, thread pools, caches
    before = rss_kib(endpoint.pid)
    async with sessions(endpoint, count, in_flight=50):
        await asyncio.sleep(IDLE_SETTLE_SECONDS)
        after = rss_kib(endpoint.pid)
    return stats.per_unit(after - before, count)


@dataclass(frozen=True, slots=True)
class Setups:
    """Whole sessions set up and closed, and how long they took."""

    count: int
    seconds: float

    @property
    def per_second(self) -> float | None:
        """Sessions per second."""
        return stats.rate(self.count, self.seconds)


async def setup_rate(endpoint: Endpoint, *, count: int, in_flight: int) -> Setups:
    """count whole sessions as a client sees them, and how long they took:
    connect, wait for `session.created`, close, and wait until the server has
    closed the TCP connection (`ClientConnection.close` returns only then, RFC
    6455 section 7.1.1: the server closes TCP first)."""
    numbers = iter(range(count))

    async def worker() -> None:
        for _ in numbers:
            ws, _created = await open_session(endpoint)
            try:
                # Returns once the TCP connection is gone; a server that does
                # not close it costs the client its close timeout (2 s).
                await ws.close()
            finally:
                ws.transport.abort()  # a no-op once the server has closed

    workers = [asyncio.create_task(worker()) for _ in range(min(in_flight, count))]
    started = time.perf_counter()
    try:
        await asyncio.gather(*workers)
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    return Setups(count=count, seconds=time.perf_counter() - started)


async def relays_to_fake(endpoint: Endpoint, direct: Endpoint) -> bool:
    """Whether the fake itself answered: its session counter moves past ours.

    The fake numbers its connections; a session through the target must get a
    number between two sessions opened directly around it.
    """
    numbers = []
    for each in (direct, endpoint, direct):
        ws, created = await open_session(each)
        await ws.close()
        numbers.append(session_number(created))
    first, through, last = numbers
    return None not in numbers and first < through < last


@dataclass(frozen=True, slots=True)
class Fidelity:
    """Whether frames come back as they were sent."""

    text_identical: bool
    binary_echoed: bool


async def fidelity(endpoint: Endpoint) -> Fidelity:
    """Send an oddly spaced text event and a binary frame; compare the echoes."""
    text = '{ "type" : "fake.echo",  "note": "caf\\u00e9 \u00e9", "n": 1.50 }'
    binary = bytes(range(256))
    ws, _created = await open_session(endpoint)
    try:
        await ws.send(text)
        text_identical = await ws.recv() == text
        try:
            async with asyncio.timeout(5):
                await ws.send(binary)
                binary_echoed = await ws.recv() == binary
        except (TimeoutError, OSError, ConnectionClosed):
            binary_echoed = False
    finally:
        await ws.close()
    return Fidelity(text_identical=text_identical, binary_echoed=binary_echoed)


async def large_frames(endpoint: Endpoint, *, count: int) -> Latency:
    """Sequential round trips of a 1 MiB text frame."""
    return await sequential(endpoint, size=MIB, count=count, warmup=3)

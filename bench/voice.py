"""The headline: how many voice sessions one process carries within budget.

A voice session sends a 100 ms chunk (4,800 bytes of PCM, base64, inside a
`fake.echo` event) every 100 ms and the fake answers each at once, so both legs
carry 10 frames/s of ~6.4 KB. Each chunk carries its send time; the client times
the echo. The ramp grows one fleet of sessions step by step (the sessions of a
step stay for the next), measuring each step for a few seconds under load.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, WebSocketException

from bench import stats
from bench.client import (
    SessionFailed,
    audio_chunk,
    audio_frame,
    close_all,
    open_session,
    sent_ns_of,
)
from bench.targets import Endpoint

INTERVAL = 0.1  # seconds between chunks, per session
GRACE = 1.0  # how long after a window its last echoes may still arrive
OPEN_IN_FLIGHT = 25


class VoiceFleet:
    """Voice sessions against one endpoint; owns every task it starts."""

    def __init__(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint
        self._audio = audio_chunk()
        self._connections: list[ClientConnection] = []
        self._tasks: list[asyncio.Task] = []
        self._window: tuple[int, int] | None = None
        self._latencies_ms: list[float] = []
        self._expected = 0
        self._received = 0
        self.failed = 0  # sessions that failed to open or died

    @property
    def size(self) -> int:
        """Sessions open (or attempted) so far."""
        return len(self._connections) + self.failed

    async def grow(self, count: int) -> None:
        """Open sessions until the fleet has count; failures are counted."""
        gate = asyncio.Semaphore(OPEN_IN_FLIGHT)

        async def add() -> None:
            async with gate:
                try:
                    ws, _created = await open_session(self._endpoint)
                except (OSError, TimeoutError, WebSocketException, SessionFailed):
                    self.failed += 1
                    return
            self._connections.append(ws)
            self._tasks.append(asyncio.create_task(self._send_loop(ws)))
            self._tasks.append(asyncio.create_task(self._receive_loop(ws)))

        await asyncio.gather(*(add() for _ in range(count - self.size)))

    async def measure(self, seconds: float) -> stats.VoiceStep:
        """Count and time the echoes of chunks sent during the next seconds."""
        self._latencies_ms, self._expected, self._received = [], 0, 0
        start = time.perf_counter_ns()
        self._window = (start, start + int(seconds * 1e9))
        try:
            await asyncio.sleep(seconds)
            # The window's last echoes may still be on their way: wait for them.
            async with asyncio.timeout(GRACE):
                while self._received < self._expected:
                    await asyncio.sleep(0.02)
        except TimeoutError:
            pass  # late echoes count as lost
        finally:
            self._window = None
        latencies = self._latencies_ms
        return stats.VoiceStep(
            sessions=self.size,
            expected=self._expected,
            received=self._received,
            p50_ms=stats.percentile(latencies, 50) if latencies else None,
            p99_ms=stats.percentile(latencies, 99) if latencies else None,
            failed_sessions=self.failed,
        )

    async def aclose(self) -> None:
        """Stop every task and close every session (bounded)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await close_all(self._connections)

    def _in_window(self, sent_ns: int) -> bool:
        window = self._window
        return window is not None and window[0] <= sent_ns < window[1]

    async def _send_loop(self, ws: ClientConnection) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + random.uniform(0, INTERVAL)  # spread the sessions
        try:
            while True:
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                sent_ns = time.perf_counter_ns()
                await ws.send(audio_frame(self._audio, sent_ns=sent_ns))
                if self._in_window(sent_ns):
                    self._expected += 1
                due += INTERVAL
        except (ConnectionClosed, OSError):
            self.failed += 1

    async def _receive_loop(self, ws: ClientConnection) -> None:
        try:
            async for frame in ws:
                sent_ns = sent_ns_of(frame) if isinstance(frame, str) else None
                if sent_ns is not None and self._in_window(sent_ns):
                    self._received += 1
                    self._latencies_ms.append((time.perf_counter_ns() - sent_ns) / 1e6)
        except ConnectionClosed:
            pass  # the send loop counts the session as failed


async def ramp(
    endpoint: Endpoint,
    counts: list[int],
    *,
    seconds: float,
    passes: Callable[[stats.VoiceStep], bool],
    on_step: Callable[[stats.VoiceStep], None] = lambda step: None,
) -> list[stats.VoiceStep]:
    """Measure each count in turn; stop after the first step that fails twice
    (the second measurement is the one kept)."""
    fleet = VoiceFleet(endpoint)
    steps: list[stats.VoiceStep] = []
    try:
        for count in counts:
            await fleet.grow(count)
            await asyncio.sleep(0.5)  # let the new sessions settle into rhythm
            step = await fleet.measure(seconds)
            if not passes(step):
                # One stall anywhere on the two cores (a collector pause in the
                # fake, the VM's steal) lifts a few seconds' p99 at once: a step
                # fails only when a second measurement fails too.
                on_step(step)
                step = await fleet.measure(seconds)
            steps.append(step)
            on_step(step)
            if not passes(step):
                break
    finally:
        await fleet.aclose()
    return steps

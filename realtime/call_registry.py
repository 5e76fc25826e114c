"""The process's live WebRTC calls: who owns their sideband tasks.

A call outlives the HTTP request that created it: its sideband (the provider's
WebSocket that reports the call's usage, `realtime.sideband`) runs for as long
as the call does. Its task belongs to the process, here, and the server's
shutdown (`realtime.lifespan.stop_background`: Daphne's drain, uvicorn's
lifespan) stops every call and waits for their rows, bounded.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import uuid
from typing import Protocol

logger = logging.getLogger(__name__)


class Monitored(Protocol):
    """One call's monitor, as the registry sees it."""

    session_id: uuid.UUID
    call_id: str

    async def run(self) -> None:
        """Meter and govern the call until it ends; finalise its row."""

    def shut_down(self) -> None:
        """End the call because the gateway is stopping (idempotent)."""


class CallRegistry:
    """Owns the task of every live call's monitor in this process."""

    def __init__(self) -> None:
        self._running: dict[asyncio.Task[None], Monitored] = {}

    def start(self, monitor: Monitored) -> asyncio.Task[None]:
        """Run `monitor` as a task of the process.

        In a fresh context: the request that created the call copied into its
        tasks the context of its own sync worker (asgiref's per-request thread
        executor), which is gone once the request is answered.
        """
        task = asyncio.get_running_loop().create_task(
            monitor.run(), context=contextvars.Context()
        )
        self._running[task] = monitor
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.pop(task, None)
        if not task.cancelled() and task.exception() is not None:
            logger.error("a call's monitor failed", exc_info=task.exception())

    def find(self, call_id: str) -> Monitored | None:
        """The live call of this provider call id, if this process runs it."""
        return next(
            (call for call in self._running.values() if call.call_id == call_id), None
        )

    def __len__(self) -> int:
        return len(self._running)

    async def stop(self, *, timeout: float) -> None:
        """End every call (hung up, rows finalised) within `timeout` s; a
        monitor still running then is cancelled (its row is finalised in its
        `finally`, shielded)."""
        tasks = list(self._running)
        if not tasks:
            return
        logger.info("ending %d live call(s)", len(tasks))
        for task in tasks:
            self._running[task].shut_down()
        _, late = await asyncio.wait(tasks, timeout=timeout)
        for task in late:
            task.cancel()
        if late:
            logger.warning("%d call(s) did not end within %s s", len(late), timeout)
            await asyncio.wait(late, timeout=2.0)

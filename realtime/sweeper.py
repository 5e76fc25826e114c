"""Every live gateway process sweeps up after dead ones.

A process that dies (SIGKILL, a lost host, an OOM) leaves its rows `active`.
Each live process checkpoints its sessions' rows every
GATEWAY_CHECKPOINT_SECONDS (the heartbeat) and, on the same period, marks
every `active` row whose heartbeat is older than three periods `interrupted`,
with the counts it last checkpointed, whatever process wrote it: a restarted
container with a new name, or one that never comes back, is cleaned up by its
peers. A session whose heartbeat was only late (a database blip) undoes the
mark at its next checkpoint.

Each sweep's hop also runs the process's other periodic database work
(`after_sweep`: pricing finished sessions for the metrics, so that what a
process keeps of them stays bounded when nothing scrapes /metrics).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import random
from collections.abc import Callable

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import Error as DatabaseError
from django.utils import timezone

from realtime import operations

logger = logging.getLogger(__name__)

# A row is stale after this many missed heartbeats.
STALE_AFTER_PERIODS = 3


def stale_before() -> datetime.datetime:
    """Rows whose last heartbeat is older than this belong to a dead process."""
    period = settings.GATEWAY_CHECKPOINT_SECONDS
    return timezone.now() - datetime.timedelta(seconds=STALE_AFTER_PERIODS * period)


class Sweeper:
    """Runs the periodic sweep on this process's event loop."""

    def __init__(self, *, after_sweep: Callable[[], None] | None = None) -> None:
        self._task: asyncio.Task[None] | None = None
        # Other periodic database work of the process, on the sweep's hop.
        self._after_sweep = after_sweep

    @property
    def running(self) -> bool:
        """True while the sweep runs."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start sweeping on the running event loop (once)."""
        if not self.running:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop sweeping and wait for the sweep to end."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        period = settings.GATEWAY_CHECKPOINT_SECONDS
        sweep = database_sync_to_async(operations.sessions_interrupt)
        while True:
            # Jittered, so that processes started together do not sweep together.
            await asyncio.sleep(period * random.uniform(0.75, 1.25))
            try:
                count = await sweep(stale_before=stale_before())
            except DatabaseError:
                logger.warning("database unavailable for the sweep", exc_info=True)
                continue
            if count:
                logger.warning(
                    "marked %d session(s) of dead gateway processes interrupted",
                    count,
                )
            if self._after_sweep is not None:
                try:
                    await database_sync_to_async(self._after_sweep)()
                except Exception:  # never the end of the sweep
                    logger.exception("periodic work after the sweep failed")

"""The collector's settling for a started server (realtime.collector)."""

from __future__ import annotations

import gc

import pytest

from realtime import collector
from realtime.lifespan import start_background, stop_background

pytestmark = pytest.mark.timeout(30)


def test_settling_freezes_what_the_started_process_holds():
    thresholds = gc.get_threshold()
    try:
        collector.settle_for_serving()
        assert gc.get_freeze_count() > 0  # out of every later collection
        assert gc.get_threshold() == thresholds  # CPython's, unchanged
    finally:
        gc.unfreeze()


@pytest.mark.django_db(transaction=True)
async def test_the_server_settles_the_collector_when_it_starts():
    gc.unfreeze()
    try:
        await start_background()
        assert gc.get_freeze_count() > 0
    finally:
        await stop_background()
        gc.unfreeze()

"""The collector's settling for a started server (realtime.collector)."""

from __future__ import annotations

import gc

import pytest

from realtime import collector

pytestmark = pytest.mark.timeout(30)


def test_settling_freezes_the_started_process_and_collects_young_objects_less_often():
    thresholds = gc.get_threshold()
    try:
        collector.settle_for_serving()
        assert gc.get_freeze_count() > 0  # what the process holds is frozen
        assert gc.get_threshold() == (
            collector.YOUNG_THRESHOLD,
            *collector.OLDER_THRESHOLDS,
        )
        assert thresholds[0] < collector.YOUNG_THRESHOLD
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)

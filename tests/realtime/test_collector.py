"""The collector's settling for a started server (realtime.collector)."""

from __future__ import annotations

import gc

import pytest

from realtime import collector

pytestmark = pytest.mark.timeout(30)


def test_settling_freezes_what_the_started_process_holds():
    thresholds = gc.get_threshold()
    try:
        collector.settle_for_serving()
        assert gc.get_freeze_count() > 0  # out of every later collection
        assert gc.get_threshold() == thresholds  # CPython's, unchanged
    finally:
        gc.unfreeze()

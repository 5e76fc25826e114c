"""Shared settings of the property-based tests."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

BOUNDED = settings(
    max_examples=200,
    deadline=None,
    database=None,  # hermetic: known failures are pinned with @example instead
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

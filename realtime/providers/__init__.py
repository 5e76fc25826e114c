"""The provider registry: the one place that maps a provider kind to its adapter."""

from __future__ import annotations

import functools

from django.conf import settings
from django.utils.module_loading import import_string

from realtime.providers.base import ProviderAdapter, UpstreamTarget

__all__ = ["ProviderAdapter", "UpstreamTarget", "adapter_for", "known_kinds"]


def known_kinds() -> list[str]:
    """Every provider kind with an adapter."""
    return sorted(settings.GATEWAY_PROVIDER_ADAPTERS)


@functools.cache
def adapter_for(kind: str) -> ProviderAdapter:
    """The adapter for `kind` (adapters are stateless, so one each is shared)."""
    try:
        path = settings.GATEWAY_PROVIDER_ADAPTERS[kind]
    except KeyError:
        raise LookupError(f"no adapter for provider kind {kind!r}") from None
    return import_string(path)()

"""The provider registry: the one place that maps a provider kind to its adapter."""

from __future__ import annotations

import functools

from django.conf import settings
from django.utils.module_loading import import_string

from realtime.credentials import KeyPlaces
from realtime.providers.base import (
    ConnectRequest,
    ProviderAdapter,
    ProviderSession,
    UpstreamTarget,
)

__all__ = [
    "ConnectRequest",
    "ProviderAdapter",
    "ProviderSession",
    "UpstreamTarget",
    "adapter_for",
    "key_places",
    "known_kinds",
]


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


@functools.cache
def key_places() -> KeyPlaces:
    """Every provider's own key headers and parameters, accepted from clients."""
    adapters = [adapter_for(kind) for kind in known_kinds()]
    headers = {a.credential_header for a in adapters} - {"authorization"}
    params = {p for a in adapters for p in a.credential_params}
    return KeyPlaces(headers=tuple(sorted(headers)), params=tuple(sorted(params)))

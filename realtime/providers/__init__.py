"""The provider registry: the one place that maps a provider kind to its adapter.

Everything else that depends on which providers exist is derived here from the
adapters: the handshake conventions of their clients (`key_places`), their
native routes (`client_routes`) and, for keys/, the kinds and their option
and URL checks (`AdapterKinds`, registered by `RealtimeConfig.ready`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from django.conf import settings
from django.utils.module_loading import import_string

from realtime.credentials import KeyPlaces
from realtime.providers.base import (
    ClientRoute,
    ConnectRequest,
    ProviderAdapter,
    ProviderSession,
    UpstreamTarget,
)

__all__ = [
    "AdapterKinds",
    "ClientRoute",
    "ConnectRequest",
    "ProviderAdapter",
    "ProviderSession",
    "UpstreamTarget",
    "adapter_for",
    "client_routes",
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


def _adapters() -> list[ProviderAdapter]:
    return [adapter_for(kind) for kind in known_kinds()]


T = TypeVar("T")


def _unique(items: Iterable[T]) -> tuple[T, ...]:
    return tuple(dict.fromkeys(items))  # first-seen order


@functools.cache
def key_places() -> KeyPlaces:
    """Every provider's client conventions, for `parse_handshake`: their own key
    headers and parameters, the subprotocols to select and the dialect signs."""
    adapters = _adapters()
    headers = {a.credential_header for a in adapters} - {"authorization"}
    params = {p for a in adapters for p in a.credential_params}
    return KeyPlaces(
        headers=tuple(sorted(headers)),
        params=tuple(sorted(params)),
        subprotocols=_unique(p for a in adapters for p in a.client_subprotocols),
        dialects=_unique(d for a in adapters for d in a.client_dialects),
    )


def client_routes() -> tuple[ClientRoute, ...]:
    """Every provider's native client paths, each once."""
    return _unique(route for a in _adapters() for route in a.client_routes)


class AdapterKinds:
    """What keys/ may know of the adapters (see `keys.kinds`): kinds, options,
    endpoints."""

    def kinds(self) -> list[str]:
        """Every provider kind with an adapter, sorted."""
        return known_kinds()

    def check_options(self, kind: str, options: Mapping[str, Any]) -> None:
        """Raise OptionsError (a ValueError) when `options` do not suit `kind`."""
        adapter_for(kind).validate_options(options)

    def check_upstream_url(
        self, kind: str, url: str, options: Mapping[str, Any]
    ) -> None:
        """Raise OptionsError when a ws(s):// `url` does not suit `kind` and
        its (valid) `options`."""
        adapter_for(kind).validate_url(url, options)

    def upstream_url(
        self, kind: str, configured_url: str, options: Mapping[str, Any]
    ) -> str:
        """The URL a provider of `kind` dials (LookupError: no adapter; an
        OptionsError, a ValueError, when its options name no endpoint)."""
        return adapter_for(kind).upstream_url(configured_url, options)

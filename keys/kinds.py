"""Provider kinds, as told to keys/ by the app that speaks to providers.

keys/ stores providers but never imports the code that speaks to them. That app
registers a catalogue when it starts (realtime does, in `RealtimeConfig.ready`);
a provider row's kind, options and URL are checked against it, and the admin offers
its kinds. Until one is registered, no kind is known.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol


class KindCatalogue(Protocol):
    """The provider kinds there are, and what options suit each."""

    def kinds(self) -> Sequence[str]:
        """Every provider kind, sorted."""
        ...

    def check_options(self, kind: str, options: Mapping[str, Any]) -> None:
        """Raise ValueError when `options` do not suit `kind` (a known kind)."""
        ...

    def check_upstream_url(
        self, kind: str, url: str, options: Mapping[str, Any]
    ) -> None:
        """Raise ValueError when a ws(s):// `url` does not suit `kind` and its
        (valid) `options`: the URL is the provider's full endpoint."""

    def upstream_url(
        self, kind: str, configured_url: str, options: Mapping[str, Any]
    ) -> str:
        """The URL a provider of `kind` dials: `configured_url`, or its public
        endpoint when that is blank. ValueError when the options name none."""
        ...


class _NoKinds:
    def kinds(self) -> Sequence[str]:
        return ()

    def check_options(self, kind: str, options: Mapping[str, Any]) -> None:
        return None

    def check_upstream_url(
        self, kind: str, url: str, options: Mapping[str, Any]
    ) -> None:
        return None

    def upstream_url(
        self, kind: str, configured_url: str, options: Mapping[str, Any]
    ) -> str:
        return configured_url


class ProviderKinds:
    """The registered catalogue (one per process, like `admin.site`)."""

    def __init__(self) -> None:
        self._catalogue: KindCatalogue = _NoKinds()

    def register(self, catalogue: KindCatalogue) -> None:
        """Use `catalogue` from now on (the last one registered wins)."""
        self._catalogue = catalogue

    def kinds(self) -> list[str]:
        """Every known provider kind, sorted."""
        return sorted(self._catalogue.kinds())

    def check_options(self, kind: str, options: Mapping[str, Any]) -> None:
        """Raise ValueError when `options` do not suit `kind` (a known kind)."""
        self._catalogue.check_options(kind, options)

    def check_upstream_url(
        self, kind: str, url: str, options: Mapping[str, Any]
    ) -> None:
        """Raise ValueError when a ws(s):// `url` does not suit `kind` and its
        (valid) `options`."""
        self._catalogue.check_upstream_url(kind, url, options)

    def upstream_url(
        self, kind: str, configured_url: str, options: Mapping[str, Any]
    ) -> str:
        """The URL a provider of `kind` dials (LookupError for an unknown kind,
        ValueError when its options name no endpoint)."""
        return self._catalogue.upstream_url(kind, configured_url, options)


provider_kinds = ProviderKinds()

"""Client dialects: pure translations between versions of a provider's protocol."""

from __future__ import annotations

from typing import Protocol


class DialectTranslator(Protocol):
    """Rewrites one session's frames between the client's and the upstream's
    dialect; pure, and stateful only where a dialect needs to remember."""

    def client_frame(self, text: str) -> str:
        """A client text frame, in the upstream's dialect."""
        ...

    def upstream_frame(self, text: str) -> str:
        """An upstream text frame, in the client's dialect."""
        ...

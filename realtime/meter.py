"""Per-session counters, kept in memory and written to the row only rarely."""

from __future__ import annotations


class Meter:
    """Messages and bytes of one session, each way; mutated on the hot path."""

    __slots__ = (
        "bytes_from_client",
        "bytes_from_upstream",
        "messages_from_client",
        "messages_from_upstream",
    )

    def __init__(self) -> None:
        self.messages_from_client = 0
        self.messages_from_upstream = 0
        self.bytes_from_client = 0
        self.bytes_from_upstream = 0

    def snapshot(self) -> dict[str, int]:
        """The counters as session-row column values."""
        return {
            "messages_from_client": self.messages_from_client,
            "messages_from_upstream": self.messages_from_upstream,
            "bytes_from_client": self.bytes_from_client,
            "bytes_from_upstream": self.bytes_from_upstream,
        }


def text_size(text: str) -> int:
    """The UTF-8 size of a text frame, without encoding it when it is ASCII."""
    return len(text) if text.isascii() else len(text.encode("utf-8"))

"""Daphne's input queue for a WebSocket: flow control on the client's socket."""

from __future__ import annotations

from types import SimpleNamespace

from realtime.server import ClientQueue


class _Transport:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def pauseProducing(self) -> None:
        self.calls.append("pause")

    def resumeProducing(self) -> None:
        self.calls.append("resume")


def _frame(size: int) -> dict:
    return {"type": "websocket.receive", "bytes": b"x" * size}


async def test_the_client_is_read_only_while_little_waits_for_the_app():
    transport = _Transport()
    queue = ClientQueue(SimpleNamespace(transport=transport), limit=100)
    queue.put_nowait({"type": "websocket.connect"})
    queue.put_nowait(_frame(60))
    assert transport.calls == []
    queue.put_nowait(_frame(60))  # 120 bytes wait: stop reading
    queue.put_nowait({"type": "websocket.receive", "text": "y" * 10})
    # Again on each message over the mark (Twisted may have resumed reading).
    assert transport.calls == ["pause", "pause"]
    assert (await queue.get())["type"] == "websocket.connect"
    await queue.get()  # 70 bytes left: over half the mark, still paused
    assert transport.calls == ["pause", "pause"]
    await queue.get()  # 10 bytes left: read again, once
    await queue.get()
    assert transport.calls == ["pause", "pause", "resume"]


async def test_a_protocol_without_a_transport_is_left_alone():
    queue = ClientQueue(SimpleNamespace(transport=None), limit=1)
    queue.put_nowait(_frame(10))
    assert (await queue.get())["bytes"] == b"x" * 10

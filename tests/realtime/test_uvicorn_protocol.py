"""The gateway's uvicorn WebSocket transport, under a real uvicorn server on
127.0.0.1: the close code the application is told for each way a client leaves."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
import uvicorn
import websockets

from realtime.uvicorn_protocol import GatewayWebSocketProtocol, Inbox, Writable
from tests.support.processes import free_port

pytestmark = pytest.mark.timeout(20)


class _Recorder:
    """An ASGI app that accepts, then records the disconnect it is told."""

    def __init__(self) -> None:
        self.disconnects: asyncio.Queue[dict] = asyncio.Queue()

    async def __call__(self, scope, receive, send) -> None:
        assert scope["type"] == "websocket"
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        while (message := await receive())["type"] != "websocket.disconnect":
            pass
        self.disconnects.put_nowait(message)


@contextlib.asynccontextmanager
async def _serving(app: _Recorder) -> AsyncIterator[str]:
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        ws=GatewayWebSocketProtocol,
        lifespan="off",
        log_config=None,
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        yield f"ws://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        await serving


async def _close_code(leave) -> int:
    app = _Recorder()
    async with _serving(app) as url:
        ws = await websockets.connect(url)
        await leave(ws)
        return (await app.disconnects.get())["code"]


async def test_a_client_that_vanishes_is_reported_as_1006():
    async def vanish(ws) -> None:
        ws.transport.abort()  # no close frame

    assert await _close_code(vanish) == 1006


async def test_a_close_frame_without_a_code_is_still_1005():
    async def close_without_code(ws) -> None:
        # A masked close frame with no payload (RFC 6455 §5.5.1): FIN and
        # opcode 8, mask bit and length 0, an all-zero masking key.
        ws.transport.write(b"\x88\x80\x00\x00\x00\x00")

    assert await _close_code(close_without_code) == 1005


async def test_a_close_code_from_the_client_is_passed_on():
    async def close(ws) -> None:
        await ws.close(code=4000)

    assert await _close_code(close) == 4000


async def test_the_inbox_hands_messages_over_in_order_to_a_waiting_reader():
    inbox = Inbox()
    reader = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)  # the reader waits
    inbox.put_nowait("first")
    inbox.put_nowait("second")
    assert await reader == "first"
    assert not inbox.empty()
    assert await inbox.get() == "second"
    assert inbox.empty()


async def test_a_cancelled_read_loses_no_message():
    inbox = Inbox()
    reader = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    inbox.put_nowait("kept")
    reader.cancel()  # woken, but cancelled before it resumed
    with pytest.raises(asyncio.CancelledError):
        await reader
    assert await inbox.get() == "kept"


async def test_a_send_waits_while_the_socket_is_not_writable():
    writable = Writable()
    assert await writable.wait()  # writable: at once
    writable.clear()
    waiting = asyncio.create_task(writable.wait())
    abandoned = asyncio.create_task(writable.wait())
    await asyncio.sleep(0)
    abandoned.cancel()
    await asyncio.sleep(0)
    assert not waiting.done()
    writable.set()
    assert await waiting
    assert abandoned.cancelled()

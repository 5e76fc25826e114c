"""The process's background work, started and stopped with the server.

Servers that speak the ASGI lifespan protocol (uvicorn) start it here; Daphne,
which does not, starts it from `realtime.server.GatewayServer`.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from realtime.collector import settle_for_serving
from realtime.state import process_state


async def start_background() -> None:
    """Start what every gateway process runs besides its sessions, and settle
    the garbage collector for serving (`realtime.collector`)."""
    process_state().sweeper.start()
    settle_for_serving()


async def stop_background() -> None:
    """Stop it (the server is shutting down): live WebRTC calls are hung up
    and their rows finalised, then the sweep and the announcement listener
    stop."""
    state = process_state()
    await state.calls.stop(timeout=settings.GATEWAY_DRAIN_SECONDS)
    await state.sweeper.stop()
    await state.stop_hubs()


async def lifespan(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The ASGI lifespan application."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await start_background()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await stop_background()
            await send({"type": "lifespan.shutdown.complete"})
            return

"""The Python floor for a relay: plain `websockets`, no Django, no auth, no log.

Accepts a client on /v1/realtime, dials the upstream with the client's query
string, then pumps frames both ways unchanged until either side closes. The
same shape as the gateway's bridge (two pumps, the first to end stops the
other), minus everything the gateway does besides moving frames.

    python -m bench.bare_relay --port 8100 --upstream ws://127.0.0.1:9100/v1/realtime
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

MAX_SIZE = 16 * 1024 * 1024
UPSTREAM_CONNECT_TIMEOUT = 4.0


async def _pump(source, sink) -> None:
    """Copy frames from source to sink until source closes."""
    with contextlib.suppress(ConnectionClosed):
        async for message in source:
            await sink.send(message)


async def _bridge(client: ServerConnection, upstream: ClientConnection) -> None:
    """Two pumps; the first to finish cancels and awaits the other."""
    tasks = [
        asyncio.create_task(_pump(client, upstream)),
        asyncio.create_task(_pump(upstream, client)),
    ]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def handler_for(upstream_url: str):
    """A connection handler that relays to upstream_url."""

    async def handle(client: ServerConnection) -> None:
        assert client.request is not None
        query = urlsplit(client.request.path).query
        url = f"{upstream_url}?{query}" if query else upstream_url
        try:
            async with asyncio.timeout(UPSTREAM_CONNECT_TIMEOUT):
                upstream = await connect(
                    url,
                    additional_headers={"Authorization": "Bearer sk-bench"},
                    compression=None,
                    max_size=MAX_SIZE,
                    ping_interval=None,
                )
        except (OSError, TimeoutError, ConnectionClosed):
            await client.close(4502, "upstream unavailable")
            return
        async with upstream:
            await _bridge(client, upstream)

    return handle


async def run(*, host: str, port: int, upstream_url: str) -> None:
    """Serve until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with serve(
        handler_for(upstream_url),
        host,
        port,
        compression=None,
        max_size=MAX_SIZE,
        ping_interval=None,
    ):
        await stop.wait()


def main() -> None:
    """Parse arguments and run the relay."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="ws://.../v1/realtime")
    args = parser.parse_args()
    asyncio.run(run(host=args.host, port=args.port, upstream_url=args.upstream))


if __name__ == "__main__":
    main()

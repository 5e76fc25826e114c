from __future__ import annotations

import datetime
import logging
import socket
from pathlib import Path
from typing import Any

from channels.routing import get_default_application
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from realtime import operations
from realtime.lifespan import start_background, stop_background
from realtime.server import Background, GatewayServer
from realtime.state import process_state

logger = logging.getLogger("realtime.rungateway")

# Frames a little over the gateway's limit still reach the consumer, which
# answers them with an error event and 4413; only larger ones meet Daphne's own
# limit (which closes with 1009 and no event).
_SERVER_SLACK_BYTES = 1024 * 1024
# uvicorn's log level for each --verbosity (Daphne takes the verbosity itself):
# 2 adds its access lines, 3 its trace of every ASGI message.
_UVICORN_LOG_LEVELS = ("error", "warning", "info", "trace")


class Command(BaseCommand):
    help = (
        "Run the gateway with its settings applied, under uvicorn with uvloop "
        "(the default: the fastest, see bench/RESULTS.md) or Daphne "
        "(--server daphne). SIGTERM drains live sessions and finalises their "
        "rows (uvicorn closes them with 1012; Daphne sends an error event and "
        "4001)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Address to bind.")
        parser.add_argument("--port", type=int, default=8000, help="Port to bind.")
        parser.add_argument(
            "--server",
            choices=["uvicorn", "daphne"],
            default="uvicorn",
            help="uvicorn with uvloop (the default, the fastest) or daphne.",
        )
        parser.add_argument(
            "--tls-cert", help="PEM certificate chain: serve wss:// and https://."
        )
        parser.add_argument("--tls-key", help="PEM private key for --tls-cert.")

    def handle(self, *args: Any, host: str, port: int, **options: Any) -> None:
        cert, key = options["tls_cert"], options["tls_key"]
        endpoint = _endpoint(host, port, cert, key)
        process_state().name_instance(f"{socket.gethostname()}:{port}")
        self._sweep()
        secure = "s" if cert else ""
        banner = (
            f"Realtime gateway ({options['server']}) on "
            f"ws{secure}://{host}:{port}/v1/realtime "
            f"(admin: http{secure}://{host}:{port}/admin/)"
        )
        if settings.GATEWAY_LOG_FORMAT == "json":
            logger.info("%s", banner)  # every line of output is a JSON object
        else:
            self.stdout.write(banner)
        if options["server"] == "uvicorn":
            _run_uvicorn(host, port, cert, key, options["verbosity"])
        else:
            _run_daphne(endpoint, options["verbosity"])

    def _sweep(self) -> None:
        """Mark rows an earlier life of this instance (or a dead peer) left active."""
        stale_before = timezone.now() - datetime.timedelta(
            seconds=3 * settings.GATEWAY_CHECKPOINT_SECONDS
        )
        count = operations.sessions_interrupt(
            instance=process_state().instance, stale_before=stale_before
        )
        if count:
            logger.warning("marked %d session(s) left active as interrupted", count)


def _run_daphne(endpoint: str, verbosity: int) -> None:
    """Daphne, through GatewayServer (graceful drain, client flow control)."""
    server_limit = settings.GATEWAY_MAX_MESSAGE_BYTES + _SERVER_SLACK_BYTES
    GatewayServer(
        application=get_default_application(),
        endpoints=[endpoint],
        websocket_max_message_size=server_limit,
        websocket_max_frame_size=server_limit,
        ping_interval=settings.GATEWAY_PING_INTERVAL,
        ping_timeout=settings.GATEWAY_PING_TIMEOUT,
        websocket_timeout=-1,  # sessions may be long; the provider caps them
        websocket_handshake_timeout=5,
        application_close_timeout=10,
        drain_timeout=settings.GATEWAY_DRAIN_SECONDS,
        client_buffer_bytes=settings.GATEWAY_CLIENT_BUFFER_BYTES,
        slow_client_timeout=settings.GATEWAY_SLOW_CLIENT_SECONDS,
        verbosity=verbosity,
        server_name="realtime-gateway",
        background=Background(start=start_background, stop=stop_background),
    ).run()


def _run_uvicorn(
    host: str, port: int, cert: str | None, key: str | None, verbosity: int
) -> None:
    """uvicorn with uvloop, httptools (its HTTP parser, chosen when installed)
    and its sans-I/O websockets transport (as the
    gateway's `GatewayWebSocketProtocol`, which reports a vanished client as
    1006). It waits on a slow client by itself (backpressure) and stops reading
    a client until the gateway has taken its last message (so while the
    gateway waits on a slow provider); it keeps no task per connection (pings
    run on timers), which makes an idle session ~7 KiB lighter than uvicorn's
    older `websockets` transport. On SIGTERM it closes sessions with 1012, and
    every row is still finalised. Its loggers go through the gateway's handler
    (`log_config=None`), which masks keys."""
    import uvicorn

    from realtime.uvicorn_protocol import GatewayWebSocketProtocol

    uvicorn.run(
        "gateway_project.asgi:application",
        host=host,
        port=port,
        loop="uvloop",
        ws=GatewayWebSocketProtocol,
        ws_max_size=settings.GATEWAY_MAX_MESSAGE_BYTES + _SERVER_SLACK_BYTES,
        ws_ping_interval=settings.GATEWAY_PING_INTERVAL,
        ws_ping_timeout=settings.GATEWAY_PING_TIMEOUT,
        ws_per_message_deflate=False,
        lifespan="on",  # starts the sweep of dead processes' rows
        # X-Forwarded-For counts only from GATEWAY_TRUSTED_PROXIES, under
        # either server (realtime/addresses.py); uvicorn's own would trust
        # 127.0.0.1 whatever that setting says.
        proxy_headers=False,
        timeout_graceful_shutdown=int(settings.GATEWAY_DRAIN_SECONDS) or None,
        ssl_certfile=cert,
        ssl_keyfile=key,
        log_config=None,
        log_level=_UVICORN_LOG_LEVELS[min(verbosity, 3)],
    )


def _endpoint(host: str, port: int, cert: str | None, key: str | None) -> str:
    """A Twisted endpoint description: TCP, or TLS with a certificate and key."""
    interface = host.replace(":", "\\:")  # IPv6 colons are escaped
    if not cert and not key:
        return f"tcp:port={port}:interface={interface}"
    if not (cert and key):
        raise CommandError("--tls-cert and --tls-key go together.")
    for path in (cert, key):
        if not Path(path).is_file():
            raise CommandError(f"No file at {path}.")
    cert_path = cert.replace(":", "\\:")
    key_path = key.replace(":", "\\:")
    return (
        f"ssl:port={port}:interface={interface}"
        f":privateKey={key_path}:certKey={cert_path}"
    )

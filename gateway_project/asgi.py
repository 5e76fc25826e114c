"""ASGI entry point: HTTP to Django, WebSockets to the realtime gateway.

Runs under Daphne (`manage.py rungateway`) or any ASGI server, e.g.
`uvicorn gateway_project.asgi:application --ws
realtime.uvicorn_protocol:GatewayWebSocketProtocol --ws-max-size 17825792
--no-proxy-headers`. Every layer under the outermost is a plain call that
returns the next one's run (no coroutine frame per layer lives as long as a
session).
The outermost layer strips key-bearing query parameters from the server's scope
before the server can log them (`realtime.redaction`); importing this module
masks credentials in the log handlers the server set up.
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway_project.settings")
# Django first: it sets up the apps the routing below imports.
django_application = get_asgi_application()

from django.conf import settings  # noqa: E402

from realtime.addresses import ForwardedClient  # noqa: E402
from realtime.credentials import KEY_QUERY_PARAMS  # noqa: E402
from realtime.lifespan import lifespan  # noqa: E402
from realtime.origins import BrowserOriginValidator  # noqa: E402
from realtime.providers import key_places  # noqa: E402
from realtime.redaction import ScrubQuery, guard_log_handlers  # noqa: E402
from realtime.routing import (  # noqa: E402
    ByScopeType,
    WebSocketRouter,
    websocket_urlpatterns,
)

guard_log_handlers()

application = ScrubQuery(
    ForwardedClient(
        ByScopeType(
            {
                "http": django_application,
                "lifespan": lifespan,
                "websocket": BrowserOriginValidator(
                    WebSocketRouter(websocket_urlpatterns),
                    settings.GATEWAY_ALLOWED_ORIGINS,
                ),
            }
        ),
        proxies=lambda: settings.GATEWAY_TRUSTED_PROXIES,
    ),
    params=KEY_QUERY_PARAMS | set(key_places().params),
)

"""ASGI entry point: HTTP to Django, WebSockets to the realtime gateway.

Runs under Daphne (`manage.py rungateway`) or any ASGI server, e.g.
`uvicorn gateway_project.asgi:application --ws-max-size 16777216`.
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway_project.settings")
# Django first: it sets up the apps the routing below imports.
django_application = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from realtime.origins import BrowserOriginValidator  # noqa: E402
from realtime.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_application,
        "websocket": BrowserOriginValidator(
            URLRouter(websocket_urlpatterns), settings.GATEWAY_ALLOWED_ORIGINS
        ),
    }
)

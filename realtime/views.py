"""Health and metrics endpoints for load balancers and scrapers."""

from __future__ import annotations

import hmac
import ipaddress
import logging

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client.exposition import choose_encoder

from realtime.state import process_state

logger = logging.getLogger(__name__)


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:  # any failure means "not healthy"; the reason is logged
        logger.warning("health check: database unreachable", exc_info=True)
        return False


async def _layer_ok() -> bool:
    layer = get_channel_layer()
    if layer is None:
        return True
    return await process_state().layer_probe(layer).ok()


@require_GET
async def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database and the channel layer answer, else 503."""
    database = await sync_to_async(_database_ok)()
    layer = await _layer_ok()
    healthy = database and layer
    return JsonResponse(
        {
            "status": "ok" if healthy else "unavailable",
            "database": "ok" if database else "unavailable",
            "channel_layer": "ok" if layer else "unavailable",
            "live_sessions": process_state().metrics.live_sessions(),
        },
        status=200 if healthy else 503,
    )


def _address_allowed(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(
        ip in ipaddress.ip_network(network, strict=False)
        for network in settings.GATEWAY_METRICS_ALLOWED_ADDRESSES
    )


def _token_presented(request: HttpRequest) -> bool:
    token = settings.GATEWAY_METRICS_TOKEN
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    return bool(
        token
        and scheme.lower() == "bearer"
        and hmac.compare_digest(presented.strip().encode(), token.encode())
    )


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """This process's metrics (`realtime.metrics`) in the Prometheus text format,
    for scrapers at an allowed address or with the metrics token; 401/403 for
    anyone else. Sync: pricing live sessions may read ModelPrice rows."""
    if not (
        _address_allowed(request.META.get("REMOTE_ADDR", ""))
        or _token_presented(request)
    ):
        if settings.GATEWAY_METRICS_TOKEN:
            response = HttpResponse("A metrics token is required.\n", status=401)
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
        return HttpResponse("Metrics are not served to this address.\n", status=403)
    # The text format a scraper asks for (OpenMetrics or Prometheus text).
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(
        encode(process_state().metrics.registry), content_type=content_type
    )

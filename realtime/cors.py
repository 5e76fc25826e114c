"""CORS for the endpoints a browser page posts to: the WebRTC call endpoints.

A page served from another origin than the gateway's may create calls when
its origin is listed in `GATEWAY_CORS_ALLOWED_ORIGINS` (exact origins; empty,
the default: same-origin pages only). The Fetch standard's protocol
(fetch.spec.whatwg.org/#http-cors-protocol): the browser first sends a
preflight `OPTIONS` with `Origin`, `Access-Control-Request-Method` and
`-Headers`, because the page's POST carries `Authorization` and a non-simple
`Content-Type`; an allowed origin is answered with itself in
`Access-Control-Allow-Origin`, the method, the request headers the gateway
takes and how long the answer may be cached. The POST's answer then names the
origin again and exposes `Location` (OpenAI's realtime-webrtc guide reads the
call id from it; a cross-origin page reads no other header unless exposed).

A disallowed or absent origin gets no CORS header at all, so the browser
withholds the answer from the page. `Vary: Origin` goes on every answer while
any origin is allowed, so no cache serves one origin's answer to another.
No credentials mode: the key travels in `Authorization`, never in a cookie.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_vary_headers

View = Callable[[HttpRequest], Coroutine[Any, Any, HttpResponse]]

# The request headers a page (or OpenAI's JavaScript SDK in a browser) sends:
# the key and body type, Azure's key header, and the SDKs' own headers.
ALLOWED_HEADERS = (
    "Authorization",
    "Content-Type",
    "api-key",
    "OpenAI-Beta",
    "OpenAI-Organization",
    "OpenAI-Project",
    "X-Stainless-Arch",
    "X-Stainless-Lang",
    "X-Stainless-OS",
    "X-Stainless-Package-Version",
    "X-Stainless-Retry-Count",
    "X-Stainless-Runtime",
    "X-Stainless-Runtime-Version",
    "X-Stainless-Timeout",
)
PREFLIGHT_MAX_AGE = 600  # seconds a browser may reuse a preflight's answer


def allowed_origin(request: HttpRequest) -> str | None:
    """The request's `Origin` when it is an allowed one, else None."""
    origin = request.headers.get("Origin")
    if origin and origin in settings.GATEWAY_CORS_ALLOWED_ORIGINS:
        return origin
    return None


def preflight(request: HttpRequest, methods: tuple[str, ...]) -> HttpResponse:
    """The answer to an `OPTIONS` request: 204 with `Allow`, and the CORS
    headers for an allowed origin's preflight."""
    response = HttpResponse(status=204)
    response["Allow"] = ", ".join((*methods, "OPTIONS"))
    origin = allowed_origin(request)
    if origin is not None and "Access-Control-Request-Method" in request.headers:
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Allow-Methods"] = ", ".join(methods)
        response["Access-Control-Allow-Headers"] = ", ".join(ALLOWED_HEADERS)
        response["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE)
    return response


def cross_origin(*methods: str) -> Callable[[View], View]:
    """Let allowed origins' pages call an async view with `methods`: it answers
    preflights, and its answers carry the CORS headers."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        async def wrapped(request: HttpRequest) -> HttpResponse:
            if request.method == "OPTIONS":
                response = preflight(request, methods)
            else:
                response = await view(request)
                origin = allowed_origin(request)
                if origin is not None:
                    response["Access-Control-Allow-Origin"] = origin
                    response["Access-Control-Expose-Headers"] = "Location"
            if settings.GATEWAY_CORS_ALLOWED_ORIGINS:
                patch_vary_headers(response, ("Origin",))
            return response

        return wrapped

    return decorate

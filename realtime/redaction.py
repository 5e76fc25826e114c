"""Keep credentials out of every log line: the gateway's, Daphne's and uvicorn's.

Two layers, because servers log from two sources:

- The connection scope. uvicorn's access lines (`"WebSocket /v1/realtime?..."
  [accepted]`, `"GET /healthz?..." 200`) are built from the very scope dict it
  hands the application, when the application accepts or answers. `ScrubQuery`,
  the outermost ASGI layer, removes the query parameters that carry keys from
  that dict before the application runs; a WebSocket application gets a copy
  that still has them (credential parsing needs them), an HTTP one does not.
- The records. What a server logs before the application even runs (uvicorn's
  trace log of the scope, the raw handshake headers that websockets logs at
  debug, Twisted's HTTP access lines under Daphne's verbosity 2+) and what the
  upstream client logs at debug (the provider's `Authorization` header) can
  only be cleaned as it is logged. `CredentialFilter` masks key-bearing query
  parameters, headers, subprotocols, bearer tokens, virtual keys and short-lived
  tokens in a record's message, arguments and traceback. Django's `LOGGING`
  puts it on the gateway's handler; `guard_log_handlers` adds it to the
  handlers a server set up itself before loading the application (plain
  uvicorn's).

Pure standard library: `LOGGING` imports this module before Django's apps load.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any
from urllib.parse import unquote_plus

MASK = "***"

# Names (of query parameters, headers, dict keys) whose values are secrets.
_SECRET_NAME_ENDINGS = (
    "key",
    "token",
    "secret",
    "password",
    "authorization",
    "cookie",
    "signature",
    "sessionid",
)
# name=value, as in a query string or a repr: the name starts a token.
_PARAM = re.compile(r"(?<![\w%.-])(?P<name>[\w%.-]+)=(?P<value>[^&\s'\"<>,)\]]+)")
# name: value (a header line, a dict's repr) or ('name', 'value') (a tuple's),
# for secret names only (a value runs to the end of the line).
_FIELD = re.compile(
    rf"(?i)(?<![\w%.-])(?P<name>[\w.-]*(?:{'|'.join(_SECRET_NAME_ENDINGS)}))"
    r"(?P<sep>['\"]?[ \t]*:[ \t]*(?-i:b)?['\"]?|['\"],[ \t]*(?-i:b)?['\"])"
    r"(?P<value>[^\r\n'\"]+)"
)
# A credential carried in a subprotocol: x-portkey-api-key.K, xi-api-key.K...
_SUBPROTOCOL = re.compile(
    r"(?i)(?<![\w.-])(?P<prefix>[\w-]*key)\.(?P<value>[^\s,;'\"<>\]]+)"
)
_SCHEME = re.compile(r"(?i)\b(?P<scheme>bearer|basic)[ \t]+(?P<value>[^\s'\",]+)")
# A virtual key or a short-lived token (keys.tokens): its 10-character prefix
# is not secret.
_VIRTUAL_KEY = re.compile(r"\b(?P<prefix>[ve]k_[A-Za-z0-9_-]{7})[A-Za-z0-9_-]{36}")


def is_secret_name(name: str) -> bool:
    """True for a parameter or header name whose value is a credential."""
    return name.strip().lower().endswith(_SECRET_NAME_ENDINGS)


def _param(match: re.Match[str]) -> str:
    name, value = match["name"], match["value"]
    if value in (MASK, "None") or not is_secret_name(unquote_plus(name)):
        return match[0]
    return f"{name}={MASK}"


def _field(match: re.Match[str]) -> str:
    value = match["value"]
    if value.startswith(MASK):
        return match[0]
    scheme = _SCHEME.match(value)  # keep "Bearer" / "Basic"
    kept = f"{scheme['scheme']} " if scheme else ""
    return f"{match['name']}{match['sep']}{kept}{MASK}"


def redact(text: str) -> str:
    """`text` with every credential it seems to hold masked."""
    text = _VIRTUAL_KEY.sub(rf"\g<prefix>{MASK}", text)
    text = _FIELD.sub(_field, text)  # first: a cookie's whole value goes
    text = _SCHEME.sub(rf"\g<scheme> {MASK}", text)
    text = _SUBPROTOCOL.sub(rf"\g<prefix>.{MASK}", text)
    return _PARAM.sub(_param, text)


def _clean(value: Any) -> Any:
    """A log argument, or its text masked when that text holds a credential."""
    if value is None or isinstance(value, int | float):
        return value
    text = value if isinstance(value, str) else str(value)
    clean = redact(text)
    return value if clean == text else clean


class CredentialFilter(logging.Filter):
    """Masks credentials in a record's message, arguments and traceback."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the record in place; never drops it."""
        record.msg = _clean(record.msg)
        args = record.args
        if isinstance(args, tuple):
            # Element by element: formatters such as uvicorn's unpack the tuple.
            record.args = tuple(_clean(arg) for arg in args)
        elif isinstance(args, Mapping):
            record.args = {name: _clean(arg) for name, arg in args.items()}
        if record.args:
            # A credential split over arguments ("< %s: %s", name, value).
            message = record.getMessage()
            clean = redact(message)
            if clean != message:
                record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def guard_log_handlers() -> None:
    """Put a `CredentialFilter` on every log handler configured so far.

    Servers configure their own handlers (uvicorn's `default` and `access`)
    before they import the application, so importing it guards them too.
    """
    manager = logging.Logger.manager
    loggers = [logging.getLogger()]
    loggers += [x for x in manager.loggerDict.values() if isinstance(x, logging.Logger)]
    for logger in loggers:
        for handler in logger.handlers:
            if not any(isinstance(f, CredentialFilter) for f in handler.filters):
                handler.addFilter(CredentialFilter())


# --- the scope ----------------------------------------------------------------

Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]


def strip_query(query: bytes, names: Iterable[str]) -> bytes:
    """`query` without the parameters called `names` (as `parse_qsl` reads
    names: `+` and %-escapes decoded); the other parameters byte for byte."""
    drop = frozenset(names)
    parts = query.split(b"&")
    kept = [
        part
        for part in parts
        if unquote_plus(part.partition(b"=")[0].decode("latin-1")) not in drop
    ]
    return query if len(kept) == len(parts) else b"&".join(kept)


class ScrubQuery:
    """The outermost ASGI layer: the server's scope loses key-bearing query
    parameters before the application runs (and so before the server logs it);
    a WebSocket application still sees them in a copy of the scope."""

    def __init__(self, app: ASGIApp, *, params: Iterable[str]) -> None:
        self.app = app
        self.params = frozenset(params)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        """Strip the server's scope in place, then run the application."""
        query = scope.get("query_string") or b""
        if query and scope["type"] in ("websocket", "http"):
            stripped = strip_query(query, self.params)
            if stripped is not query:
                scope["query_string"] = stripped  # what the server logs from
                if scope["type"] == "websocket":
                    scope = {**scope, "query_string": query}
        await self.app(scope, receive, send)

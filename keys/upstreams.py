"""Where a provider may send its credentials: the upstream allow-list.

Every virtual key's provider credential goes to its provider's upstream, so
whoever decides a provider's URL decides who receives the credential. Three
rules follow, each checked where it can be:

- an upstream's host must be on `GATEWAY_UPSTREAM_HOSTS` (checked when a provider
  is saved, and again when a session dials, so a row written before the list
  changed is never dialed);
- a provider's *destination* (scheme, host and port of the endpoint it really
  dials, its adapter's public endpoint when its URL is blank) is what a key's
  credential was entered for: a key whose provider's destination moved since is
  refused until an admin enters the credential again;
- moving a provider's destination takes the `keys.change_provider_endpoint`
  permission (superusers have every permission).

Entries of the allow-list are host names or addresses, matched exactly; one that
starts with a dot matches the name and every subdomain (`.openai.azure.com`, as
in Django's ALLOWED_HOSTS); `*` matches every host.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from keys.kinds import provider_kinds

_DEFAULT_PORTS = {"ws": 80, "wss": 443}


def _normalise(host: str) -> str:
    return host.strip().lower().strip("[]").rstrip(".")


def host_allowed(host: str, allowed: Iterable[str]) -> bool:
    """True when `host` matches an entry of `allowed` (see the module docstring)."""
    host = _normalise(host)
    if not host:
        return False
    for entry in allowed:
        pattern = _normalise(entry)
        if pattern == "*" or host == pattern:
            return True
        if pattern.startswith(".") and (host.endswith(pattern) or host == pattern[1:]):
            return True
    return False


def url_host_allowed(url: str) -> bool:
    """True when the host of `url` is on GATEWAY_UPSTREAM_HOSTS."""
    host = urlsplit(url).hostname or ""
    return host_allowed(host, settings.GATEWAY_UPSTREAM_HOSTS)


def endpoint_url(kind: str, upstream_url: str, options: Mapping[str, Any]) -> str:
    """The URL a provider of `kind` really dials ('' when its adapter cannot tell:
    an unknown kind, or options that name no endpoint)."""
    try:
        return provider_kinds.upstream_url(kind, upstream_url, options)
    except (LookupError, ValueError):
        return ""


def destination(kind: str, upstream_url: str, options: Mapping[str, Any]) -> str:
    """scheme://host:port of the endpoint a provider dials, or '' if unknown."""
    url = endpoint_url(kind, upstream_url, options)
    try:
        parts = urlsplit(url)
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme, 0)
    except ValueError:
        return ""
    host = parts.hostname or ""
    if not host:
        return ""
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}:{port}"

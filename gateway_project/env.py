"""Read the process environment, once, into typed values.

A development file of KEY=VALUE lines (`scripts/demo.sh` writes `.env`) fills in
variables the real environment does not set, but only when GATEWAY_ENV_FILE
names it; the real environment wins.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def load_dotenv(path: Path) -> None:
    """Set KEY=VALUE lines of `path` that the environment does not set yet."""
    if not path.is_file():
        return
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.partition("=")
        os.environ.setdefault(name.strip(), value.strip().strip("'\""))


def get_str(name: str, default: str = "") -> str:
    """A string variable, or `default` when unset."""
    return os.environ.get(name, default)


def get_bool(name: str, default: bool = False) -> bool:
    """A boolean variable: 1/true/yes/on or 0/false/no/off."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}.")


def get_number(name: str, default: float, *, minimum: float = 0) -> float:
    """A number variable no smaller than `minimum`."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {raw!r}.") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}.")
    return value


def get_list(name: str, default: str = "") -> list[str]:
    """A comma-separated list variable, blanks dropped."""
    return [item.strip() for item in get_str(name, default).split(",") if item.strip()]


def get_origins(name: str) -> frozenset[str]:
    """A comma-separated list of exact web origins (`https://app.example:8443`):
    a scheme (http or https), a host and maybe a port; no path, no wildcard."""
    origins = set()
    for item in get_list(name):
        scheme, sep, rest = item.partition("://")
        host = rest.rsplit(":", 1)[0] if rest.count(":") == 1 else rest
        valid = (
            sep
            and scheme.lower() in ("http", "https")
            and host
            and not any(char in rest for char in "/?#*@ ")
        )
        if not valid:
            raise ImproperlyConfigured(
                f"{name}: {item!r} is not an origin like https://app.example.com."
            )
        origins.add(f"{scheme.lower()}://{rest.lower()}")
    return frozenset(origins)

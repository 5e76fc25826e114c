"""The name of this gateway process, recorded on the sessions it serves."""

from __future__ import annotations

import os
import socket

from django.conf import settings

_name: str | None = None


def instance_name() -> str:
    """GATEWAY_INSTANCE, else what `rungateway` set, else host:pid."""
    global _name
    if _name is None:
        _name = settings.GATEWAY_INSTANCE or f"{socket.gethostname()}:{os.getpid()}"
    return _name


def set_instance_name(name: str) -> None:
    """Name this process (rungateway: host:port, stable across restarts)."""
    global _name
    _name = settings.GATEWAY_INSTANCE or name

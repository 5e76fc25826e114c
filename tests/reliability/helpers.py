"""Shared pieces of the reliability tests: process memory and plain HTTP."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from pathlib import Path


def rss_kib(pid: int) -> int:
    """The resident set size of process `pid`, in KiB (Linux /proc)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^VmRSS:\s+(\d+) kB$", status, re.MULTILINE).group(1))


def http_get(url: str) -> tuple[int, bytes]:
    """Status and body of a GET, error statuses included."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()

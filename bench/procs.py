"""Child processes the bench owns, and what /proc says about them.

Every process is started in its own session (so its children can be signalled
with it), polled until it answers, and always stopped: SIGTERM, then SIGKILL
after a bounded wait. CPU time and RSS are read from /proc for the process and
its descendants (a server that forks workers is measured whole).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from websockets.exceptions import WebSocketException
from websockets.sync.client import connect as ws_connect

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


class ProcessFailed(RuntimeError):
    """A child process exited early or did not become ready in time."""


def free_port() -> int:
    """A port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ws_ready(url: str) -> Callable[[], bool]:
    """A probe: does url complete a WebSocket handshake? (Closes it at once.)"""

    def probe() -> bool:
        try:
            with ws_connect(url, open_timeout=1, close_timeout=1, compression=None):
                return True
        except (OSError, TimeoutError, WebSocketException):
            return False

    return probe


def http_ready(url: str) -> Callable[[], bool]:
    """A probe: does url answer 200?"""

    def probe() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    return probe


@dataclass
class Child:
    """A running child process with its log file."""

    name: str
    process: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self.process.pid

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the child's output."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_ready(self, probe: Callable[[], bool], *, timeout: float) -> None:
        """Poll probe until it passes; ProcessFailed if the child dies or stalls."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ProcessFailed(
                    f"{self.name} exited with {self.process.returncode}:\n"
                    f"{self.log_tail()}"
                )
            if probe():
                return
            time.sleep(0.1)
        raise ProcessFailed(
            f"{self.name} not ready within {timeout:g} s:\n{self.log_tail()}"
        )

    def stop(self, *, timeout: float = 10.0) -> None:
        """SIGTERM the child's process group, SIGKILL it after timeout."""
        if self.process.poll() is not None:
            return
        _signal_group(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal_group(self.process.pid, signal.SIGKILL)
            self.process.wait(5)


def _signal_group(pid: int, signum: int) -> None:
    # The group was created for this child (start_new_session), so its id is pid.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


@contextlib.contextmanager
def running(
    name: str,
    command: list[str],
    *,
    env: dict[str, str],
    cwd: Path,
    log_dir: Path,
    ready: Callable[[], bool],
    ready_timeout: float = 30.0,
) -> Iterator[Child]:
    """Start a child, wait until ready, yield it, and always stop it."""
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    child = Child(name=name, process=process, log_path=log_path)
    try:
        child.wait_ready(ready, timeout=ready_timeout)
        yield child
    finally:
        child.stop()


# --- /proc ------------------------------------------------------------------


def _descendants(pid: int) -> list[int]:
    """pid and every live descendant, from /proc/*/stat parent links."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        stat = _stat_fields(int(entry))
        if stat is not None:
            children.setdefault(int(stat[1]), []).append(int(entry))
    tree, pending = [], [pid]
    while pending:
        current = pending.pop()
        tree.append(current)
        pending.extend(children.get(current, ()))
    return tree


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/pid/stat after the command name (state is index 0)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            raw = stat.read()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of pid and its descendants (all threads)."""
    total = 0
    for member in _descendants(pid):
        fields = _stat_fields(member)
        if fields is not None:
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _TICKS


def _cpu_totals() -> tuple[float, float]:
    """Seconds (all cores, since boot) processes ran and the hypervisor stole.

    Process time is user + nice + system; interrupt time is left out, since
    loopback traffic, the bench's own included, is charged there rather than to
    any process. Steal is time the VM's CPUs were ready but not run by the host.
    """
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:9]]
    user, nice, system, steal = fields[0], fields[1], fields[2], fields[7]
    return (user + nice + system) / _TICKS, steal / _TICKS


class ForeignLoad:
    """CPU taken from the bench by others: other processes, and the host."""

    def __init__(self) -> None:
        self._started = time.monotonic()
        self._base = self._read()

    @staticmethod
    def _read() -> tuple[float, float]:
        reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
        own = cpu_seconds(os.getpid()) + reaped.ru_utime + reaped.ru_stime
        busy, steal = _cpu_totals()
        return busy - own, steal

    def _rates(self) -> tuple[float, float]:
        elapsed = time.monotonic() - self._started
        if elapsed <= 0:
            return 0.0, 0.0
        now = self._read()
        return tuple((n - b) / elapsed for n, b in zip(now, self._base, strict=True))

    def cores(self) -> float:
        """Average cores other processes used since this object was made."""
        return self._rates()[0]

    def steal(self) -> float:
        """Average cores the hypervisor withheld since this object was made."""
        return self._rates()[1]


def rss_kib(pid: int) -> int:
    """Resident set size of pid and its descendants, in KiB."""
    total = 0
    for member in _descendants(pid):
        try:
            with open(f"/proc/{member}/statm") as statm:
                total += int(statm.read().split()[1]) * _PAGE_KIB
        except (OSError, IndexError, ValueError):
            continue
    return total


async def settle(
    pids: tuple[int, ...], *, busy: float = 0.05, step: float = 0.2, limit: float = 8.0
) -> float:
    """Wait until each process tree uses under `busy` of a core; seconds waited."""
    started = time.monotonic()
    before = [cpu_seconds(pid) for pid in pids]
    while time.monotonic() - started < limit:
        await asyncio.sleep(step)
        after = [cpu_seconds(pid) for pid in pids]
        if all(a - b < busy * step for a, b in zip(after, before, strict=True)):
            break
        before = after
    return time.monotonic() - started


async def quiet(*, cores: float = 0.25, limit: float = 20.0) -> float:
    """Wait (bounded) until other processes use under `cores`; their last load."""
    deadline = time.monotonic() + limit
    while True:
        load = ForeignLoad()
        await asyncio.sleep(1.0)
        used = load.cores()
        if used < cores or time.monotonic() >= deadline:
            return used

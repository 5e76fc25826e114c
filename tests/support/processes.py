"""Real gateway processes (Daphne or uvicorn) on 127.0.0.1, and probes of them."""

from __future__ import annotations

import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
# Readiness polling only: the TLS tests check certificates where it matters.
_UNVERIFIED = ssl._create_unverified_context()
READY_TIMEOUT = 20.0
# The README's plain uvicorn command ("Running in production"), without a bind.
PLAIN_UVICORN = (
    "uvicorn", "gateway_project.asgi:application",
    "--ws", "realtime.uvicorn_protocol:GatewayWebSocketProtocol",
    "--ws-max-size", "17825792", "--no-proxy-headers",
)  # fmt: skip


def free_port() -> int:
    """A port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _database_url() -> str:
    """The URL of the test database the test process is using."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    user = db["USER"] or ""
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    auth = f"{user}{password}@" if user else ""
    host = db["HOST"] or "127.0.0.1"
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{auth}{host}{port}/{db['NAME']}"


def child_environment(**overrides: str) -> dict[str, str]:
    """The test process's environment, pointed at its test database."""
    env = dict(os.environ)
    env["DATABASE_URL"] = _database_url()
    env["PYTHONUNBUFFERED"] = "1"
    env.update(overrides)
    return env


@dataclass
class GatewayProcess:
    """A running gateway server; `stop()` ends it with SIGTERM."""

    process: subprocess.Popen
    port: int
    log_path: Path
    tls: bool = False

    @classmethod
    def start(
        cls,
        env: dict[str, str],
        *,
        log_dir: Path,
        server: str | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> GatewayProcess:
        """Run `manage.py rungateway --server <server>` (None: with no
        `--server`, as a newcomer runs it; `plain-uvicorn`: the README's plain
        uvicorn command) on a free port; return once /healthz answers.

        Tests start processes through :class:`GatewayLauncher` (the
        ``gateway_process`` fixture), which stops them.
        """
        port = free_port()
        if server == "plain-uvicorn":
            command = [
                sys.executable, "-m", *PLAIN_UVICORN,
                "--host", "127.0.0.1", "--port", str(port), *extra_args,
            ]  # fmt: skip
        else:
            chosen = ("--server", server) if server is not None else ()
            command = [
                sys.executable, "manage.py", "rungateway", "--port", str(port),
                *chosen, *extra_args,
            ]  # fmt: skip
        log_path = log_dir / f"{server or 'rungateway'}-{port}.log"
        log = log_path.open("wb")
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        gateway = cls(
            process=process,
            port=port,
            log_path=log_path,
            tls="--tls-cert" in extra_args,
        )
        gateway.wait_ready()
        return gateway

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/realtime"

    @property
    def http_url(self) -> str:
        return f"http{'s' if self.tls else ''}://127.0.0.1:{self.port}"

    def wait_ready(self) -> None:
        """Poll /healthz until it answers, the process dies, or time runs out."""
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gateway exited early:\n{self.log()}")
            try:
                with urllib.request.urlopen(
                    f"{self.http_url}/healthz", timeout=1, context=_UNVERIFIED
                ):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gateway not ready in {READY_TIMEOUT} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, then SIGKILL if it has not exited within `timeout`."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return self.process.returncode


class GatewayLauncher:
    """Starts gateway processes on one environment; stops them all on exit.

    The one way tests start gateways: the ``gateway_process`` fixture hands out
    :meth:`start`, and module- or session-scoped fixtures use a launcher as a
    context manager of their own scope.
    """

    def __init__(self, env: dict[str, str], *, log_dir: Path) -> None:
        self._env = env
        self._log_dir = log_dir
        self._started: list[GatewayProcess] = []

    def start(
        self,
        *,
        server: str | None = None,
        env_overrides: dict[str, str] | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> GatewayProcess:
        """Start a gateway (`server`: None for `rungateway`'s default, uvicorn;
        daphne, uvicorn or plain-uvicorn) and wait until it is ready."""
        env = {**self._env, **(env_overrides or {})}
        gateway = GatewayProcess.start(
            env, log_dir=self._log_dir, server=server, extra_args=extra_args
        )
        self._started.append(gateway)
        return gateway

    def stop_all(self) -> None:
        """Stop every gateway started here, newest first (stopping twice is fine)."""
        while self._started:
            self._started.pop().stop()

    def __enter__(self) -> GatewayLauncher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop_all()


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

"""What the bench measures: a workspace (database, key, fake upstream) and targets.

The fake upstream runs in its own process for the whole run. Each target is a
context manager that starts its server process, waits until it answers, yields
an :class:`Endpoint` and always stops the process; the bench runs one target at
a time so they never share the two cores. `direct` starts nothing: the client
talks to the fake, and the fake is the process measured.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet

from bench import litellm_proxy
from bench.procs import (
    Child,
    ProcessFailed,
    free_port,
    http_ready,
    running,
    ws_ready,
)

ROOT = Path(__file__).resolve().parents[1]
MODEL = "gpt-realtime"
UPSTREAM_SECRET = "sk-bench"
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
COMMAND_TIMEOUT = 120.0


class Unavailable(Exception):
    """A target that cannot run here; the report says why."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where the client connects, and the process whose CPU and RSS are read."""

    name: str
    url: str
    headers: tuple[tuple[str, str], ...]
    pid: int
    # False when the target is several processes (only the first is `pid`):
    # its CPU per frame would count one process of several, so none is given.
    one_process: bool = True


@dataclass
class Workspace:
    """A throwaway database with a provider and key, and the fake upstream."""

    root: Path
    log_dir: Path
    env: dict[str, str]
    fake: Child
    fake_port: int
    token: str
    litellm: Path | str | None  # the executable, why it is missing, or not wanted

    @property
    def fake_url(self) -> str:
        """The fake's Realtime endpoint."""
        return f"ws://127.0.0.1:{self.fake_port}/v1/realtime"


def manage(env: dict[str, str], *args: str) -> str:
    """Run a management command; its stdout, or RuntimeError with its output."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {args[0]} failed:\n{result.stderr[-2000:]}")
    return result.stdout


def _gateway_environment(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REDIS_")}
    env.update(
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY=os.urandom(32).hex(),
        DATABASE_URL=f"sqlite:///{root / 'db.sqlite3'}",
        GATEWAY_LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    env.pop("REDIS_URL", None)
    # Made here: with DEBUG off, settings (and so every manage.py command)
    # refuse to load without an encryption key.
    env["GATEWAY_ENCRYPTION_KEYS"] = Fernet.generate_key().decode()
    return env


def provision(env: dict[str, str], fake_url: str) -> str:
    """Create the bench's provider (the fake at `fake_url`) and key in the
    database `env` names, migrated; the key's token."""
    manage(
        env,
        "create_provider",
        "--slug",
        "fake",
        "--kind",
        "openai",
        "--upstream-url",
        fake_url,
    )
    issued = manage(
        env,
        "create_virtual_key",
        "--provider",
        "fake",
        "--name",
        "bench",
        "--secret",
        UPSTREAM_SECRET,
    )
    return issued.strip().splitlines()[-1]


@contextlib.contextmanager
def workspace(*, log_dir: Path, litellm: Path | str | None) -> Iterator[Workspace]:
    """Set up the database, start the fake upstream, issue the bench's key."""
    root = Path(tempfile.mkdtemp(prefix="bench-"))
    try:
        env = _gateway_environment(root)
        manage(env, "migrate", "--noinput", "-v0")
        port = free_port()
        command = [sys.executable, "manage.py", "fake_upstream", "--port", str(port)]
        url = f"ws://127.0.0.1:{port}/v1/realtime"
        with running(
            "fake", command, env=env, cwd=ROOT, log_dir=log_dir, ready=ws_ready(url)
        ) as fake:
            yield Workspace(
                root=root,
                log_dir=log_dir,
                env=env,
                fake=fake,
                fake_port=port,
                token=provision(env, url),
                litellm=litellm,
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


# --- targets -------------------------------------------------------------------


def _endpoint(name: str, port: int, token: str, pid: int) -> Endpoint:
    return Endpoint(
        name=name,
        url=f"ws://127.0.0.1:{port}/v1/realtime?model={MODEL}",
        headers=(("Authorization", f"Bearer {token}"),),
        pid=pid,
    )


def direct_endpoint(ws: Workspace) -> Endpoint:
    """The fake itself, as a client would reach it without a relay."""
    return _endpoint("direct", ws.fake_port, UPSTREAM_SECRET, ws.fake.pid)


@contextlib.contextmanager
def _direct(ws: Workspace) -> Iterator[Endpoint]:
    yield direct_endpoint(ws)


@contextlib.contextmanager
def _bare(ws: Workspace) -> Iterator[Endpoint]:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "bench.bare_relay",
        "--port",
        str(port),
        "--upstream",
        ws.fake_url,
    ]
    ready = ws_ready(f"ws://127.0.0.1:{port}/v1/realtime?model={MODEL}")
    with running(
        "bare", command, env=ws.env, cwd=ROOT, log_dir=ws.log_dir, ready=ready
    ) as child:
        yield _endpoint("bare", port, ws.token, child.pid)


def _rungateway(
    name: str, *flags: str
) -> Callable[[Workspace], AbstractContextManager[Endpoint]]:
    """`manage.py rungateway` with flags (none: what a newcomer runs)."""

    @contextlib.contextmanager
    def start(ws: Workspace) -> Iterator[Endpoint]:
        port = free_port()
        command = [sys.executable, "manage.py", "rungateway", "--port", str(port)]
        ready = http_ready(f"http://127.0.0.1:{port}/healthz")
        with running(
            name,
            [*command, *flags],
            env=ws.env,
            cwd=ROOT,
            log_dir=ws.log_dir,
            ready=ready,
        ) as child:
            yield _endpoint(name, port, ws.token, child.pid)

    return start


def _uvicorn(loop: str) -> Callable[[Workspace], AbstractContextManager[Endpoint]]:
    name = "uvicorn" if loop == "asyncio" else f"uvicorn-{loop}"

    @contextlib.contextmanager
    def start(ws: Workspace) -> Iterator[Endpoint]:
        if loop == "uvloop" and importlib.util.find_spec("uvloop") is None:
            raise Unavailable("uvloop is not installed in the project venv")
        port = free_port()
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "gateway_project.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            # The README's plain command: uvicorn's sans-I/O transport, as the
            # gateway's subclass (a vanished client's row says 1006).
            "--ws",
            "realtime.uvicorn_protocol:GatewayWebSocketProtocol",
            "--ws-max-size",
            str(MAX_MESSAGE_BYTES),
            "--loop",
            loop,
            "--log-level",
            "warning",
        ]
        ready = http_ready(f"http://127.0.0.1:{port}/healthz")
        with running(
            name, command, env=ws.env, cwd=ROOT, log_dir=ws.log_dir, ready=ready
        ) as child:
            yield _endpoint(name, port, ws.token, child.pid)

    return start


@contextlib.contextmanager
def _litellm(ws: Workspace) -> Iterator[Endpoint]:
    if ws.litellm is None:
        raise Unavailable("not requested (--no-litellm)")
    if isinstance(ws.litellm, str):
        raise Unavailable(f"could not be installed: {ws.litellm}")
    port = free_port()
    config = ws.root / "litellm.yaml"
    litellm_proxy.write_config(
        config,
        model=MODEL,
        upstream_http=f"http://127.0.0.1:{ws.fake_port}",
        api_key=UPSTREAM_SECRET,
    )
    master_key = litellm_proxy.new_master_key()
    command = [
        str(ws.litellm),
        "--config",
        str(config),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--num_workers",
        "1",
    ]
    ready = http_ready(f"http://127.0.0.1:{port}/health/liveliness")
    started = False
    try:
        with running(
            "litellm",
            command,
            env=litellm_proxy.environment(master_key),
            cwd=ws.root,
            log_dir=ws.log_dir,
            ready=ready,
            ready_timeout=90.0,
        ) as child:
            started = True
            yield _endpoint("litellm", port, master_key, child.pid)
    except ProcessFailed as exc:
        if started:
            raise
        raise Unavailable(f"could not be started: {str(exc)[-300:]}") from exc


@dataclass(frozen=True, slots=True)
class Target:
    """A named way to start something the client can talk to."""

    name: str
    label: str
    start: Callable[[Workspace], AbstractContextManager[Endpoint]]
    # The workloads measured (by their progress names); None: every one.
    workloads: frozenset[str] | None = None


TARGETS: tuple[Target, ...] = (
    Target("direct", "direct: client -> fake", _direct),
    Target("bare", "bare websockets relay", _bare),
    Target(
        "rungateway", "gateway, `rungateway` (the default)", _rungateway("rungateway")
    ),
    Target(
        "daphne",
        "gateway, `rungateway --server daphne`",
        _rungateway("daphne", "--server", "daphne"),
    ),
    Target("uvicorn", "gateway, uvicorn CLI, asyncio loop", _uvicorn("asyncio")),
    Target("uvicorn-uvloop", "gateway, uvicorn CLI, uvloop", _uvicorn("uvloop")),
    Target("litellm", "LiteLLM proxy", _litellm),
)

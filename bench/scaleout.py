"""Scale-out targets: gateway processes behind nginx, sharing PostgreSQL and Redis.

The production topology (README, "Scale out"; deploy/nginx.conf): several
`rungateway` processes, the channels-redis layer between them, one PostgreSQL
database, nginx in front spreading connections with `least_conn`. The bench
runs it on loopback with plain HTTP (TLS would measure OpenSSL, the same for
every process count) and compares one process behind nginx with two, so what
nginx costs and what a second process adds are read apart.

Only throughput and voice capacity are measured here (the question is how they
grow); memory, latency and setups per process are the single-process targets'.
Needs nginx, PostgreSQL at `BENCH_POSTGRES_URL` (default: the local server,
trust auth) and Redis at `BENCH_REDIS_URL`; without them the targets are skipped
with the reason.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bench.procs import free_port, http_ready, running
from bench.targets import (
    MODEL,
    ROOT,
    Endpoint,
    Target,
    Unavailable,
    Workspace,
    manage,
    provision,
)

POSTGRES_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
# What these targets measure; the others' figures stay empty for them.
WORKLOADS = frozenset({"relay check", "throughput", "voice ramp"})


def _nginx() -> str:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.access(binary, os.X_OK):
        raise Unavailable("nginx is not installed")
    return binary


def _psql(sql: str) -> None:
    """Run one statement as the server's admin (bounded); Unavailable if the
    server cannot be reached."""
    try:
        subprocess.run(
            ["psql", POSTGRES_URL, "-v", "ON_ERROR_STOP=1", "-qc", sql],
            check=True,
            capture_output=True,
            timeout=30,
        )
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        raise Unavailable(f"PostgreSQL at {POSTGRES_URL} is not usable: {exc}") from exc


def _redis_ready() -> None:
    parts = urlsplit(REDIS_URL)
    try:
        import redis

        redis.Redis(host=parts.hostname, port=parts.port or 6379).ping()
    except Exception as exc:  # any failure to reach it: skip, saying why
        raise Unavailable(f"Redis at {REDIS_URL} is not reachable: {exc}") from exc


@contextlib.contextmanager
def _database(ws: Workspace) -> Iterator[tuple[dict[str, str], str]]:
    """A throwaway PostgreSQL database with the bench's provider and key: the
    environment for the gateway processes, and the key's token."""
    _redis_ready()
    name = f"bench_{uuid.uuid4().hex[:12]}"
    _psql(f'CREATE DATABASE "{name}"')
    try:
        url = urlunsplit(urlsplit(POSTGRES_URL)._replace(path=f"/{name}"))
        env = {**ws.env, "DATABASE_URL": url, "REDIS_URL": REDIS_URL}
        manage(env, "migrate", "--noinput", "-v0")
        yield env, provision(env, ws.fake_url)
    finally:
        _psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _nginx_config(directory: Path, listen: int, upstream_ports: list[int]) -> str:
    """The shipped site's proxying, on plain HTTP, writing only to `directory`."""
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};" if os.geteuid() == 0 else ""
    servers = "\n".join(f"        server 127.0.0.1:{port};" for port in upstream_ports)
    temp = "\n".join(
        f"    {kind}_temp_path {directory / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""\
daemon off;
{user}
worker_processes 1;
pid {directory / "nginx.pid"};
error_log {directory / "error.log"} warn;
events {{ worker_connections 4096; }}
worker_rlimit_nofile 16384;
http {{
    access_log off;
{temp}
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      close;
    }}
    upstream realtime_gateway {{
        least_conn;
{servers}
    }}
    server {{
        listen 127.0.0.1:{listen};
        location / {{
            proxy_pass http://realtime_gateway;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_buffering off;
            proxy_read_timeout 300s;
            proxy_send_timeout 300s;
            proxy_connect_timeout 5s;
        }}
    }}
}}
"""


def behind_nginx(
    processes: int,
) -> Callable[[Workspace], AbstractContextManager[Endpoint]]:
    """A target: `processes` gateway processes (`rungateway` as a newcomer runs
    it) behind one nginx worker."""
    name = f"nginx-{processes}"

    @contextlib.contextmanager
    def start(ws: Workspace) -> Iterator[Endpoint]:
        binary = _nginx()
        with _database(ws) as (env, token), contextlib.ExitStack() as stack:
            ports = [free_port() for _ in range(processes)]
            children = [
                stack.enter_context(
                    running(
                        f"{name}-gateway{index}",
                        [
                            sys.executable,
                            "manage.py",
                            "rungateway",
                            "--port",
                            str(port),
                        ],
                        env=env,
                        cwd=ROOT,
                        log_dir=ws.log_dir,
                        ready=http_ready(f"http://127.0.0.1:{port}/healthz"),
                    )
                )
                for index, port in enumerate(ports)
            ]
            directory = ws.root / name
            directory.mkdir(exist_ok=True)
            listen = free_port()
            config = directory / "nginx.conf"
            config.write_text(_nginx_config(directory, listen, ports))
            stack.enter_context(
                running(
                    f"{name}-nginx",
                    [binary, "-p", str(directory), "-c", str(config)],
                    env=env,
                    cwd=directory,
                    log_dir=ws.log_dir,
                    ready=http_ready(f"http://127.0.0.1:{listen}/healthz"),
                )
            )
            yield Endpoint(
                name=name,
                url=f"ws://127.0.0.1:{listen}/v1/realtime?model={MODEL}",
                headers=(("Authorization", f"Bearer {token}"),),
                pid=children[0].pid,
                one_process=False,
            )

    return start


SCALE_OUT_TARGETS: tuple[Target, ...] = tuple(
    Target(
        f"nginx-{count}",
        f"{count} `rungateway` process{'es' if count > 1 else ''} behind nginx "
        "(PostgreSQL + Redis)",
        behind_nginx(count),
        workloads=WORKLOADS,
    )
    for count in (1, 2)
)

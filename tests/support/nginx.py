"""Debian's nginx running the shipped deploy/nginx.conf in front of test gateways.

The site file is `deploy/nginx.conf` itself with only its `# EDIT` lines
swapped (upstream servers, listen addresses, certificate paths); each swap must
match exactly once, so a change to the shipped file that the test would no
longer exercise fails loudly. A small main file around it keeps everything
nginx writes (pid, logs, temporary files) in the test's directory.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import ssl
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import ROOT, free_port

SHIPPED = ROOT / "deploy" / "nginx.conf"
READY_TIMEOUT = 10.0


def nginx_binary() -> str | None:
    """Debian's nginx, if installed."""
    return shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None
    )


def _swap(text: str, pattern: str, replacement: str, *, count: int = 1) -> str:
    """`text` with `pattern` (a multiline regex) replaced; it must match `count`
    times."""
    new, found = re.subn(pattern, replacement, text, flags=re.MULTILINE)
    if found != count:
        raise AssertionError(
            f"deploy/nginx.conf: {pattern!r} matched {found} times, not {count}"
        )
    return new


def render_site(
    shipped: str, *, upstream_ports: list[int], http_port: int, https_port: int,
    cert: str, key: str,
) -> str:  # fmt: skip
    """The shipped site with its EDIT lines pointed at this test's servers."""
    ports = iter(upstream_ports)
    text, found = re.subn(
        r"^(\s*server )10\.0\.0\.\d+:8000\b",
        lambda match: f"{match.group(1)}127.0.0.1:{next(ports)}",
        shipped,
        flags=re.MULTILINE,
    )
    if found != len(upstream_ports):
        raise AssertionError(f"deploy/nginx.conf lists {found} upstream servers")
    text = _swap(text, r"^(\s*)listen 80;", rf"\1listen 127.0.0.1:{http_port};")
    text = _swap(
        text, r"^(\s*)listen 443 ssl;", rf"\1listen 127.0.0.1:{https_port} ssl;"
    )
    text = _swap(text, r"^\s*listen \[::\]:(80|443)( ssl)?;.*\n", "", count=2)
    text = _swap(text, r"(ssl_certificate\s+)\S+;", rf"\g<1>{cert};")
    return _swap(text, r"(ssl_certificate_key\s+)\S+;", rf"\g<1>{key};")


def _main_config(directory: Path, site: Path) -> str:
    """nginx.conf around the site: in the foreground, writing only to `directory`."""
    # As root, workers would switch to `nobody`, who cannot enter pytest's
    # private temporary directories; elsewhere `user` is ignored anyway.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};" if os.geteuid() == 0 else ""
    temp_paths = "\n".join(
        f"    {kind}_temp_path {directory / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""\
daemon off;
{user}
worker_processes 1;
pid {directory / "nginx.pid"};
error_log {directory / "error.log"} info;
events {{ worker_connections 256; }}
http {{
    access_log {directory / "access.log"};
{temp_paths}
    include {site};
}}
"""


@dataclass
class NginxProcess:
    """Debian's nginx serving the shipped site; `stop()` ends it."""

    process: subprocess.Popen
    http_port: int
    https_port: int
    directory: Path
    client_tls: ssl.SSLContext

    @classmethod
    def start(
        cls, *, binary: str, directory: Path, upstream_ports: list[int],
        cert: str, key: str, client_tls: ssl.SSLContext,
    ) -> NginxProcess:  # fmt: skip
        """Render the site, check the configuration (`nginx -t`), run nginx and
        wait until /healthz answers through it."""
        http_port, https_port = free_port(), free_port()
        site = directory / "gateway.conf"
        site.write_text(
            render_site(
                SHIPPED.read_text(), upstream_ports=upstream_ports,
                http_port=http_port, https_port=https_port, cert=cert, key=key,
            )
        )  # fmt: skip
        main = directory / "nginx.conf"
        main.write_text(_main_config(directory, site))
        command = [binary, "-p", str(directory), "-c", str(main)]
        subprocess.run(
            [*command, "-t", "-q"], check=True, capture_output=True, timeout=10
        )
        log = (directory / "stderr.log").open("wb")
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        nginx = cls(process, http_port, https_port, directory, client_tls)
        nginx.wait_ready()
        return nginx

    @property
    def wss_url(self) -> str:
        return f"wss://127.0.0.1:{self.https_port}/v1/realtime"

    @property
    def https_url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def wait_ready(self) -> None:
        """Poll /healthz through nginx until it answers, nginx dies, or time runs
        out."""
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited early:\n{self.log()}")
            try:
                with urllib.request.urlopen(
                    f"{self.https_url}/healthz", timeout=1, context=self.client_tls
                ):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"nginx not ready in {READY_TIMEOUT} s:\n{self.log()}")

    def log(self) -> str:
        return "\n".join(
            path.read_text(errors="replace")
            for path in (self.directory / "stderr.log", self.directory / "error.log")
            if path.exists()
        )

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (a graceful stop would wait for every WebSocket to end),
        then SIGKILL if it lingers."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

"""The LiteLLM proxy as a comparison target, in its own cached virtualenv.

LiteLLM serves `/v1/realtime` from a model in its config whose `model_info.mode`
is `realtime`; for an `openai/...` model it dials `api_base` with the scheme
turned into ws(s):// and the path forced to `/v1/realtime`, forwarding the
client's `model` (the deployment name) as the query. With no database it checks
clients against the master key alone. It reads DATABASE_URL (and refuses
SQLite), so it gets a clean environment.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

# The version the bench was written against (its flags and boot checks change).
LITELLM_SPEC = os.environ.get("BENCH_LITELLM_SPEC", "litellm[proxy]==1.106.2")
INSTALL_TIMEOUT = 360.0
_MARKER = ".bench-installed"


def ensure_installed(venv: Path, *, timeout: float = INSTALL_TIMEOUT) -> Path | str:
    """The `litellm` executable in venv (installed if needed), or why not."""
    executable = venv / "bin" / "litellm"
    marker = venv / _MARKER
    if executable.exists() and marker.is_file() and marker.read_text() == LITELLM_SPEC:
        return executable
    print(f"installing {LITELLM_SPEC} into {venv} (at most {timeout:.0f} s) ...")
    started = time.monotonic()
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(venv)],
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            LITELLM_SPEC,
        ],
    ]
    for command in steps:
        remaining = timeout - (time.monotonic() - started)
        failure = _run_bounded(command, timeout=remaining)
        if failure:
            return failure
    marker.write_text(LITELLM_SPEC)
    print(f"installed LiteLLM in {time.monotonic() - started:.0f} s")
    return executable


def _run_bounded(command: list[str], *, timeout: float) -> str | None:
    """Run command; None on success, else a one-line reason (killed on timeout)."""
    if timeout <= 0:
        return "install time budget exhausted"
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return f"`{' '.join(command[-2:])}` did not finish within {timeout:.0f} s"
    if process.returncode != 0:
        lines = [
            line
            for line in output.decode(errors="replace").splitlines()
            if line.strip() and not line.startswith("WARNING: Location")
        ]
        return f"`{command[2]} {command[3]}` failed: " + " | ".join(lines[-3:])
    return None


def write_config(path: Path, *, model: str, upstream_http: str, api_key: str) -> None:
    """A config with one realtime model served from the fake upstream."""
    path.write_text(
        "model_list:\n"
        f"  - model_name: {model}\n"
        "    litellm_params:\n"
        f"      model: openai/{model}\n"
        f"      api_base: {upstream_http}\n"
        f"      api_key: {api_key}\n"
        "    model_info:\n"
        "      mode: realtime\n"
    )


def environment(master_key: str) -> dict[str, str]:
    """A clean environment: no DATABASE_URL, no network lookups at boot."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    env.update(
        LITELLM_MASTER_KEY=master_key,
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        LITELLM_TELEMETRY="False",
        PYTHONUNBUFFERED="1",
    )
    return env


def new_master_key() -> str:
    """A random master key of the form LiteLLM's boot check accepts."""
    return "sk-" + secrets.token_hex(32)

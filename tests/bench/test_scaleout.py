"""The scale-out targets' parts that need no gateway: nginx's configuration and
the measurer that runs only the workloads a target names."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from bench import report
from bench.measure import Measurer
from bench.plan import QUICK
from bench.scaleout import SCALE_OUT_TARGETS, WORKLOADS, _nginx_config

pytestmark = pytest.mark.timeout(30)


def test_the_rendered_configuration_is_one_nginx_accepts(tmp_path):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not shutil.which(nginx):
        pytest.skip("nginx is not installed")
    config = tmp_path / "nginx.conf"
    config.write_text(_nginx_config(tmp_path, 18080, [18081, 18082]))
    checked = subprocess.run(
        [nginx, "-p", str(tmp_path), "-c", str(config), "-t"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert checked.returncode == 0, checked.stderr
    text = config.read_text()
    assert "least_conn;" in text
    assert "server 127.0.0.1:18081;" in text and "server 127.0.0.1:18082;" in text


def test_the_scale_out_targets_measure_throughput_and_voice_only():
    assert [target.name for target in SCALE_OUT_TARGETS] == ["nginx-1", "nginx-2"]
    assert all(target.workloads == WORKLOADS for target in SCALE_OUT_TARGETS)
    assert {"relay check", "throughput", "voice ramp"} == WORKLOADS


async def test_a_workload_the_target_does_not_name_is_never_started():
    result = report.TargetResult(name="nginx-2", label="two behind nginx")
    measurer = Measurer(QUICK, result, (), only=frozenset({"throughput"}))
    started: list[str] = []

    async def work(name: str) -> str:
        started.append(name)
        return name

    skipped = work("idle memory")
    assert await measurer.bounded("idle memory", skipped) is None
    assert skipped.cr_frame is None  # closed, not left to warn "never awaited"
    assert await measurer.bounded("throughput", work("throughput")) == "throughput"
    assert started == ["throughput"]
    assert result.notes == []

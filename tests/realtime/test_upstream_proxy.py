"""The upstream dial looks up a proxy only when the environment names one."""

from __future__ import annotations

import pytest

from realtime.upstream import proxy_setting

pytestmark = pytest.mark.timeout(10)

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "ws_proxy", "wss_proxy")


@pytest.fixture
def environment(monkeypatch):
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    proxy_setting.cache_clear()
    yield monkeypatch
    proxy_setting.cache_clear()


def test_no_proxy_in_the_environment_means_no_lookup_per_dial(environment):
    assert proxy_setting() is None


@pytest.mark.parametrize("name", ["https_proxy", "HTTPS_PROXY", "all_proxy"])
def test_a_proxy_in_the_environment_is_honoured(environment, name):
    environment.setenv(name, "http://127.0.0.1:3128")
    assert proxy_setting() is True  # websockets resolves it per URL (no_proxy too)


def test_decided_once_per_process(environment):
    assert proxy_setting() is None
    environment.setenv("https_proxy", "http://127.0.0.1:3128")
    assert proxy_setting() is None  # a server's environment does not change

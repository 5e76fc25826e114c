"""A provider row keeps one URL; its other interfaces are found beside it."""

from __future__ import annotations

import pytest

from realtime.providers import adapter_for
from realtime.providers.base import OptionsError

pytestmark = pytest.mark.timeout(10)


@pytest.mark.parametrize(
    ("kind", "url", "options", "relative", "http", "expected"),
    [
        (
            "openai",
            "",
            {},
            "live/sessions",
            False,
            "wss://api.openai.com/v1/live/sessions",
        ),
        (
            "openai",
            "",
            {},
            "realtime/calls",
            True,
            "https://api.openai.com/v1/realtime/calls",
        ),
        (
            "openai",
            "wss://api.openai.com/v1/realtime?model=gpt-realtime",
            {},
            "realtime/translations",
            False,
            "wss://api.openai.com/v1/realtime/translations",
        ),
        (
            "openai",
            "ws://127.0.0.1:9/v1/realtime",
            {},
            "realtime/calls",
            True,
            "http://127.0.0.1:9/v1/realtime/calls",
        ),
        (
            "openai",
            "wss://proxy.example/team/v1/realtime",
            {},
            "live/sessions",
            False,
            "wss://proxy.example/team/v1/live/sessions",
        ),
        (
            "openai",
            "wss://proxy.example",
            {},
            "live/sessions",
            False,
            "wss://proxy.example/v1/live/sessions",
        ),
        (
            "azure",
            "wss://r.openai.azure.com/openai/v1/realtime?model=dep",
            {},
            "live/sessions",
            False,
            "wss://r.openai.azure.com/openai/v1/live/sessions",
        ),
        (
            "azure",
            "",
            {"resource": "r"},
            "realtime/calls",
            True,
            "https://r.openai.azure.com/openai/v1/realtime/calls",
        ),
        (
            "azure",
            "wss://r.openai.azure.com/openai/v1",
            {},
            "live/sessions",
            False,
            "wss://r.openai.azure.com/openai/v1/live/sessions",
        ),
    ],
)
def test_interfaces_live_beside_the_realtime_endpoint(
    kind, url, options, relative, http, expected
):
    adapter = adapter_for(kind)
    assert adapter.interface_url(url, options, relative, http=http) == expected


def test_a_preview_azure_row_serves_no_other_interface():
    adapter = adapter_for("azure")
    with pytest.raises(OptionsError, match="/openai/v1 only"):
        adapter.interface_url(
            "wss://r.openai.azure.com/openai/realtime?api-version=2025-04-01-preview",
            {},
            "live/sessions",
        )


@pytest.mark.parametrize("kind", ["google", "cartesia", "elevenlabs"])
def test_other_providers_serve_only_their_realtime_interface(kind):
    with pytest.raises(OptionsError, match="only its realtime interface"):
        adapter_for(kind).interface_url("", {}, "live/sessions")

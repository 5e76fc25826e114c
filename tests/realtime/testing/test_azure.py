"""The Azure OpenAI Realtime fake, driven by a plain websockets client."""

from __future__ import annotations

import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from realtime.testing import FakeAzureRealtime
from tests.support.fakes import KEY, receive, send


@pytest.mark.timeout(10)
async def test_azure_ga_path_runs_the_openai_conversation() -> None:
    async with FakeAzureRealtime(api_key=KEY) as fake:
        url = f"{fake.url}?model=my-realtime"
        async with connect(url, additional_headers={"api-key": KEY}) as ws:
            created = await receive(ws)
            await send(ws, {"type": "response.create"})
            while (event := await receive(ws))["type"] != "response.done":
                pass
    assert created["type"] == "session.created"
    assert created["session"]["model"] == "my-realtime"
    assert event["response"]["usage"]["total_tokens"] > 0
    assert fake.usage_sent == [event["response"]["usage"]]
    assert fake.deployments_used == ["my-realtime"]
    assert fake.handshakes[0].path == "/openai/v1/realtime"


@pytest.mark.timeout(10)
async def test_azure_preview_path_with_bearer_token() -> None:
    async with FakeAzureRealtime(api_key=KEY, entra_token="entra") as fake:
        url = f"{fake.preview_url}?api-version=2025-04-01-preview&deployment=dep"
        headers = {"Authorization": "Bearer entra"}
        async with connect(url, additional_headers=headers) as ws:
            assert (await receive(ws))["type"] == "session.created"
        async with connect(f"{url}&api-key={KEY}") as ws:
            assert (await receive(ws))["type"] == "session.created"
    assert fake.deployments_used == ["dep", "dep"]


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    ("path", "query", "headers", "status"),
    [
        ("/openai/v1/realtime", "?model=dep", {"api-key": "wrong"}, 401),
        ("/openai/v1/realtime", "?model=dep", {}, 401),
        (
            "/openai/v1/realtime",
            "?model=dep&api-version=2025-04-01-preview",
            {"api-key": KEY},
            400,
        ),
        ("/openai/v1/realtime", "", {"api-key": KEY}, 400),
        ("/openai/v1/realtime", "?model=missing", {"api-key": KEY}, 404),
        ("/openai/realtime", "?deployment=dep", {"api-key": KEY}, 404),
        ("/v1/realtime", "?model=dep", {"api-key": KEY}, 404),
    ],
)
async def test_azure_refuses_bad_handshakes(
    path: str, query: str, headers: dict[str, str], status: int
) -> None:
    async with FakeAzureRealtime(api_key=KEY, deployments={"dep"}) as fake:
        with pytest.raises(InvalidStatus) as refused:
            await connect(fake.base_url + path + query, additional_headers=headers)
    assert refused.value.response.status_code == status
    assert json.loads(refused.value.response.body)["error"]["message"]
    assert fake.deployments_used == []

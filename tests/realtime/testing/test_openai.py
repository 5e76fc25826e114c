"""The fake Realtime upstream, driven by a plain websockets client."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from realtime.testing import FakeRealtimeServer

API_KEY = "sk-test-fake-upstream"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


@pytest_asyncio.fixture
async def server() -> AsyncIterator[FakeRealtimeServer]:
    async with FakeRealtimeServer(api_key=API_KEY) as fake:
        yield fake


async def receive_event(ws: ClientConnection) -> dict[str, Any]:
    return json.loads(await ws.recv())


async def receive_until(ws: ClientConnection, kind: str) -> list[dict[str, Any]]:
    """Collect events up to and including the first one of type ``kind``."""
    events = [await receive_event(ws)]
    while events[-1]["type"] != kind:
        events.append(await receive_event(ws))
    return events


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_open_sends_ga_session_created(server: FakeRealtimeServer) -> None:
    url = f"{server.url}?model=gpt-realtime-mini"
    async with connect(url, additional_headers=AUTH, subprotocols=["realtime"]) as ws:
        created = await receive_event(ws)
        assert ws.subprotocol == "realtime"
    assert created["type"] == "session.created"
    assert created["event_id"] == "event_0001"
    session = created["session"]
    assert session["type"] == "realtime"
    assert session["object"] == "realtime.session"
    assert session["model"] == "gpt-realtime-mini"
    assert session["output_modalities"] == ["text"]
    assert server.handshakes[0].path == "/v1/realtime"
    assert server.handshakes[0].query == {"model": "gpt-realtime-mini"}
    assert server.handshakes[0].header("AUTHORIZATION") == f"Bearer {API_KEY}"


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_text_turns_stream_deltas_and_report_usage(
    server: FakeRealtimeServer,
) -> None:
    async with connect(server.url, additional_headers=AUTH) as ws:
        await receive_event(ws)  # session.created
        usages = []
        for text in ("hello there fake", "again"):
            item = {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": text}],
            }
            await ws.send(
                json.dumps({"type": "conversation.item.create", "item": item})
            )
            added, done = await receive_until(ws, "conversation.item.done")
            assert added["type"] == "conversation.item.added"
            assert done["item"]["status"] == "completed"
            await ws.send(json.dumps({"type": "response.create"}))
            events = await receive_until(ws, "response.done")
            deltas = [e for e in events if e["type"] == "response.output_text.delta"]
            reply = f"You said: {text}"
            assert "".join(d["delta"] for d in deltas) == reply
            assert len(deltas) == len(reply.split())
            text_done = next(
                e for e in events if e["type"] == "response.output_text.done"
            )
            assert text_done["text"] == reply
            assert events[-1]["response"]["status"] == "completed"
            usages.append(events[-1]["response"]["usage"])

    # Turn 1: 3 input words, 5 reply words, nothing cached on a first response.
    # Turn 2: 1 input word, 3 reply words, cached = min(3 // 2, 1) = 1.
    assert [u["input_token_details"]["text_tokens"] for u in usages] == [3, 1]
    assert [u["input_token_details"]["cached_tokens"] for u in usages] == [0, 1]
    assert [u["output_token_details"]["text_tokens"] for u in usages] == [5, 3]
    assert [u["total_tokens"] for u in usages] == [8, 4]
    assert server.usage_sent == usages


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_wrong_key_gets_401_without_echoing_it(
    server: FakeRealtimeServer,
) -> None:
    wrong = "sk-wrong-key-123"
    with pytest.raises(InvalidStatus) as caught:
        async with connect(server.url, additional_headers={"Authorization": wrong}):
            pass
    response = caught.value.response
    assert response.status_code == 401
    assert json.loads(response.body)["error"]["code"] == "invalid_api_key"
    assert wrong.encode() not in response.body
    assert len(server.handshakes) == 1


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_fake_echo_is_byte_identical(server: FakeRealtimeServer) -> None:
    frame = '{"type": "fake.echo",  "payload": "caf\\u00e9 ☕", "n": 1.50}'
    async with connect(server.url, additional_headers=AUTH) as ws:
        await receive_event(ws)
        await ws.send(frame)
        assert await ws.recv() == frame


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_binary_frames_echo_unchanged(server: FakeRealtimeServer) -> None:
    payload = bytes(range(256)) * 4
    async with connect(server.url, additional_headers=AUTH) as ws:
        await receive_event(ws)
        await ws.send(payload)
        assert await ws.recv() == payload


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_fake_close_uses_the_scripted_code_and_reason(
    server: FakeRealtimeServer,
) -> None:
    async with connect(server.url, additional_headers=AUTH) as ws:
        await receive_event(ws)
        await ws.send(json.dumps({"type": "fake.close", "code": 4001, "reason": "bye"}))
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        assert ws.close_code == 4001
        assert ws.close_reason == "bye"
    await server.wait_closed_count(1)
    assert server.closed == [(4001, "bye")]  # the client's echo of the close frame
    assert server.open_connections == 0


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_beta_header_is_refused_like_upstream(
    server: FakeRealtimeServer,
) -> None:
    headers = {**AUTH, "OpenAI-Beta": "Realtime=V1"}
    async with connect(server.url, additional_headers=headers) as ws:
        error = await receive_event(ws)
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        assert ws.close_code == 1008
        assert ws.close_reason == "beta_api_shape_disabled"
    assert error["type"] == "error"
    assert error["error"]["code"] == "beta_api_shape_disabled"
    assert error["error"]["type"] == "invalid_request_error"


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_a_long_response_streams_and_a_cancel_ends_it_with_usage_so_far(
    server: FakeRealtimeServer,
) -> None:
    async with connect(server.url, additional_headers=AUTH) as ws:
        await receive_event(ws)  # session.created
        await ws.send(json.dumps({"type": "response.cancel"}))
        error = await receive_event(ws)
        assert error["error"]["code"] == "response_cancel_not_active"
        long = {"type": "fake.long_response", "deltas": 1000, "interval": 0.01}
        await ws.send(json.dumps(long))
        created = await receive_event(ws)
        assert created["type"] == "response.created"
        events = await receive_until(ws, "response.output_text.delta")
        await ws.send(json.dumps({"type": "fake.long_response", "deltas": 1}))
        busy = await receive_until(ws, "error")
        assert busy[-1]["error"]["code"] == "conversation_already_has_active_response"
        await ws.send(json.dumps({"type": "response.cancel"}))
        events = await receive_until(ws, "response.done")
    response = events[-1]["response"]
    deltas = sum(e["type"] == "response.output_text.delta" for e in busy + events)
    assert response["id"] == created["response"]["id"]
    assert (response["status"], response["status_details"]["reason"]) == (
        "cancelled",
        "client_cancelled",
    )
    assert 1 <= response["usage"]["output_tokens"] < 1000
    assert response["usage"]["output_tokens"] == deltas + 1
    assert server.usage_sent == [response["usage"]]


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_a_long_response_left_alone_completes(server: FakeRealtimeServer):
    async with connect(server.url, additional_headers=AUTH) as ws:
        await receive_event(ws)
        await ws.send(json.dumps({"type": "fake.long_response", "deltas": 3}))
        events = await receive_until(ws, "response.done")
    deltas = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
    assert "".join(deltas) == "w1 w2 w3"
    assert events[-1]["response"]["status"] == "completed"
    assert events[-1]["response"]["usage"]["output_tokens"] == 3


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_a_fake_that_forgets_records_keeps_nothing_of_its_sessions() -> None:
    """`manage.py fake_upstream` serves the bench's hundreds of thousands of
    sessions: nothing of them may pile up in its heap."""
    fake = FakeRealtimeServer(api_key=API_KEY)
    fake.forget_records()
    async with fake:
        url = f"{fake.url}?model=gpt-realtime"
        async with connect(url, additional_headers=AUTH) as ws:
            assert (await receive_event(ws))["type"] == "session.created"
            await ws.send(json.dumps({"type": "response.create"}))
            await receive_until(ws, "response.done")
    assert fake.handshakes == [] and fake.closed == []
    assert fake.usage_sent == [] and fake.client_events == []

import asyncio, json, random, time
import pytest
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from tests.e2e.helpers import open_client
from tests.reliability.test_bad_input import bad_keys, refuse_all, rss_kib, http_get

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]

async def test_probe_paths(daphne, fake_upstream, issue):
    issued = await issue(fake_upstream.url)
    for path in ("/v1/nope", "/", "/v1/realtime/extra", "/admin/"):
        t = time.monotonic()
        try:
            ws = await open_client(f"ws://127.0.0.1:{daphne.port}{path}", token=issued.token)
            print(path, "OPENED", ws.response.status_code)
            try:
                async with asyncio.timeout(10):
                    print(await ws.recv())
            except ConnectionClosed as e:
                print("closed", ws.close_code, repr(e))
        except InvalidStatus as e:
            print(path, "status", e.response.status_code, e.response.body[:200])
        except Exception as e:
            print(path, type(e).__name__, e)
        print("took", time.monotonic() - t)
    headers = {"Authorization": f"Bearer {issued.token}"}
    for name, hdrs, q in [("huge", {**headers, "X-Huge": "a"*65536}, "model=m"), ("many", {**headers, **{f"X-M-{i}": "v" for i in range(1000)}}, "model=m"), ("query", headers, "model=m&pad=" + "a"*65536)]:
        t = time.monotonic()
        try:
            ws = await open_client(daphne.ws_url, headers=hdrs, query=q)
            print(name, "OPENED")
        except InvalidStatus as e:
            print(name, "status", e.response.status_code, e.response.body[:200])
        except Exception as e:
            print(name, type(e).__name__, e, repr(e.__cause__))
        print("took", time.monotonic() - t)
    ws = await open_client(daphne.ws_url, token=issued.token)
    await ws.recv()
    await ws.send(b'{"type":"fake.echo","x":"\xff\xfe"}', text=True)
    try:
        async with asyncio.timeout(10):
            while True: await ws.recv()
    except ConnectionClosed as e:
        print("utf8", ws.close_code, e)
    print(open(daphne.log_path).read()[-6000:])

async def test_probe_rss(daphne, fake_upstream, issue):
    issued = await issue(fake_upstream.url)
    keys = bad_keys(issued.token, random.Random(1))
    for batch in range(6):
        attempts = [next(keys) for _ in range(2000)]
        t = time.monotonic()
        await asyncio.gather(*(refuse_all(daphne.ws_url, attempts[i::4]) for i in range(4)))
        print(batch, time.monotonic() - t, rss_kib(daphne.process.pid) / 1024)

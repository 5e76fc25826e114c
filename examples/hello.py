"""Talk to a realtime model through the gateway.

python examples/hello.py VIRTUAL_KEY                  # ws://127.0.0.1:8000
python examples/hello.py VIRTUAL_KEY --port 8001
python examples/hello.py VIRTUAL_KEY --url wss://gateway.example.com/v1/realtime?model=gpt-realtime
"""

import argparse
import asyncio
import json

from websockets.asyncio.client import connect

MODEL = "gpt-realtime"


async def main(virtual_key: str, url: str) -> None:
    headers = {"Authorization": f"Bearer {virtual_key}"}
    async with connect(url, additional_headers=headers) as ws:
        print(json.loads(await ws.recv())["type"])  # session.created
        await ws.send(
            json.dumps(
                {
                    "type": "conversation.item.create",
                    "item": {
                        "type": "message",
                        "role": "user",
                        "content": [{"type": "input_text", "text": "Hello, gateway!"}],
                    },
                }
            )
        )
        await ws.send(json.dumps({"type": "response.create"}))
        while (event := json.loads(await ws.recv()))["type"] != "response.done":
            print(event.get("delta", ""), end="", flush=True)
        print("\nusage:", event["response"]["usage"])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("virtual_key", help="a virtual key (vk_...)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--port", type=int, default=8000, help="gateway on 127.0.0.1")
    where.add_argument("--url", help="the gateway's full realtime URL")
    args = parser.parse_args()
    url = args.url or f"ws://127.0.0.1:{args.port}/v1/realtime?model={MODEL}"
    asyncio.run(main(args.virtual_key, url))

"""Talk to a realtime model through the gateway: python examples/hello.py VIRTUAL_KEY"""

import asyncio
import json
import sys

from websockets.asyncio.client import connect

URL = "ws://127.0.0.1:8000/v1/realtime?model=gpt-realtime"


async def main(virtual_key: str) -> None:
    headers = {"Authorization": f"Bearer {virtual_key}"}
    async with connect(URL, additional_headers=headers) as ws:
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


asyncio.run(main(sys.argv[1]))

"""Client events the tests send."""

from __future__ import annotations

USER_TEXT = {
    "type": "conversation.item.create",
    "item": {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": "hello through the gateway"}],
    },
}

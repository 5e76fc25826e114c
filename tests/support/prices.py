"""Price rows tests bill against."""

from __future__ import annotations

import datetime
from decimal import Decimal

from realtime.models import ModelPrice


async def gpt_live_list_price() -> None:
    """gpt-live-1 at its list price, alone among OpenAI's rows: $0.05 a
    minute active, $0.02 standby (developers.openai.com/api/docs/models/gpt-live-1)."""
    await ModelPrice.objects.filter(provider_kind="openai").adelete()
    await ModelPrice.objects.acreate(
        provider_kind="openai",
        model="gpt-live-1",
        effective_from=datetime.date(2020, 1, 1),
        per_active_minute=Decimal("0.05"),
        per_standby_minute=Decimal("0.02"),
    )

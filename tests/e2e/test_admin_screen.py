"""The admin as an operator sees it: real headless Chromium at 1280 px against a
real gateway process. The session log, the live sessions and the keys fit the
window (no horizontal scroll) with their tokens, cost, close code, expiry and
last use in view; screenshots of each page are left in the test's directory."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.utils import timezone

from keys.models import Team, VirtualKey
from realtime.models import RealtimeSession, SessionStatus
from tests.support.browser import chromium_window
from tests.support.keys import issue_key

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(90),
]

WIDTH = 1280
PASSWORD = "a-long-pass-phrase"
# Each page, and column headers an operator must see without scrolling.
PAGES = {
    "sessions": (
        "/admin/realtime/realtimesession/",
        ["total tokens", "cost (usd)", "close code", "virtual key", "duration"],
    ),
    "live": (
        "/admin/realtime/livesession/",
        ["virtual key", "gateway instance", "last checkpoint", "total tokens"],
    ),
    "keys": (
        "/admin/keys/virtualkey/",
        ["team", "status", "expires", "used today (utc)", "last used", "sessions"],
    ),
}
# The page's width, the result table's box (Django lets it scroll inside its
# own box), and each column header's right edge.
_LAYOUT_JS = """
() => {
  const results = document.querySelector('#changelist .results');
  const box = results.getBoundingClientRect();
  return {
    page: document.documentElement.scrollWidth,
    table: {scroll: results.scrollWidth, client: results.clientWidth,
            right: box.right},
    headers: [...results.querySelectorAll('thead th')].map((th) => [
      th.innerText.trim().toLowerCase(), th.getBoundingClientRect().right]),
  };
}
"""


def _fill_the_log() -> None:
    """Keys and sessions with long, realistic values (the widest a cell gets)."""
    now = timezone.now()
    expires = now + datetime.timedelta(days=90)
    team = Team.objects.create(name="customer-experience-emea")
    for n in range(3):
        issued = issue_key(
            "ws://127.0.0.1:9/v1/realtime",
            name=f"customer-support-voice-agent-{n}",
            slug="openai-production",
            models=("gpt-realtime-2025-08-28", "gpt-4o-realtime-preview-*"),
            expires_at=expires,
            max_sessions=50,
        )
        VirtualKey.objects.filter(pk=issued.key_id).update(team=team, last_used_at=now)
        for i in range(4):
            started = now - datetime.timedelta(minutes=10 * i + n)
            live = i == 0
            RealtimeSession.objects.create(
                virtual_key_id=issued.key_id,
                virtual_key_name=issued.name,
                provider_slug="openai-production",
                model="gpt-4o-realtime-preview-2024-12-17",
                gateway_instance="gateway-7f9c8d6b5-xk2pq:8000",
                client_address="2001:db8:85a3::8a2e:370:7334",
                status=SessionStatus.ACTIVE if live else SessionStatus.FINISHED,
                started_at=started,
                checkpointed_at=now if live else None,
                ended_at=None if live else started + datetime.timedelta(seconds=754),
                close_code=None if live else 4403,
                end_reason="" if live else "session_terminated",
                input_tokens=1_234_567,
                output_tokens=987_654,
                total_tokens=2_222_221,
                cost_usd=None if live else Decimal("123.456789"),
            )
    User.objects.create_superuser("ops", "", PASSWORD)


async def test_the_admin_fits_1280_px(gateway_process, tmp_path):
    await sync_to_async(_fill_the_log)()
    gateway = gateway_process(env_overrides={"DJANGO_SECURE_COOKIES": "false"})
    async with chromium_window(width=WIDTH, height=900) as page:
        await page.goto(f"{gateway.http_url}/admin/login/", timeout=10_000)
        await page.fill("#id_username", "ops")
        await page.fill("#id_password", PASSWORD)
        await page.click("input[type=submit]")
        await page.wait_for_url("**/admin/", timeout=10_000)
        for name, (path, needed) in PAGES.items():
            await page.goto(f"{gateway.http_url}{path}", timeout=10_000)
            await page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
            layout = await page.evaluate(_LAYOUT_JS)
            assert layout["page"] <= WIDTH, f"{name}: {layout['page']} px wide"
            table = layout["table"]
            assert table["scroll"] <= table["client"], f"{name}: the table scrolls"
            shown = dict(layout["headers"])
            for column in needed:
                assert column in shown, f"{name}: no {column!r} column ({shown})"
                assert shown[column] <= table["right"], f"{name}: {column!r} hidden"
        # The key's page: Revoke, then the confirmation naming its live session.
        await page.goto(f"{gateway.http_url}/admin/keys/virtualkey/", timeout=10_000)
        await page.click("text=customer-support-voice-agent-0")
        await page.click("text=Revoke")
        await page.screenshot(path=str(tmp_path / "revoke.png"), full_page=True)
        assert "1 live session it will close" in await page.inner_text("#content")
        await page.click("input[value='Yes, revoke']")
        await page.screenshot(path=str(tmp_path / "revoked.png"), full_page=True)
        assert "Revoked 1 key(s)." in await page.inner_text("ul.messagelist")
        icon = await page.evaluate(
            "fetch('/favicon.ico').then((r) => [r.status, r.headers.get('content-type')])"
        )
        assert icon == [200, "image/svg+xml"]

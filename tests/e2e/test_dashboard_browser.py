"""The dashboard in real headless Chromium, served by a real Daphne process.

A staff member logs in through the admin's form and opens the dashboard; the page
must draw every chart with the vendored Chart.js, log no console error, and ask
nothing of any origin but the gateway's (every other request is refused, as on a
machine with no network).
"""

from __future__ import annotations

import asyncio
import datetime
import os
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.utils import timezone

from realtime.models import RealtimeSession, SessionStatus
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, require_browser

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(90),
]

CHARTS = 6
PASSWORD = "a-long-pass-phrase"


def _seed() -> None:
    User.objects.create_superuser("ops", "", PASSWORD)
    now = timezone.now()
    rows = []
    for n in range(40):
        status = [SessionStatus.FINISHED] * 3 + [SessionStatus.FAILED]
        started = now - datetime.timedelta(hours=n % 20, minutes=n)
        rows.append(
            RealtimeSession(
                virtual_key_name=f"key-{n % 5}",
                provider_slug=("openai", "azure")[n % 2],
                model=("gpt-realtime", "gpt-realtime-mini")[n % 2],
                status=status[n % 4],
                started_at=started,
                ended_at=started + datetime.timedelta(minutes=3),
                close_code=1011 if n % 4 == 3 else 1000,
                end_reason="upstream_failed" if n % 4 == 3 else "client_closed",
                total_tokens=100 * (n + 1),
                cost_usd=Decimal("0.01") * (n + 1),
            )
        )
    RealtimeSession.objects.bulk_create(rows)


@pytest.mark.parametrize("period", ["24h", "30d"])
async def test_the_dashboard_draws_its_charts_offline(
    gateway_process, period, tmp_path
):
    require_browser()
    from playwright.async_api import async_playwright

    await sync_to_async(_seed)()
    gateway = gateway_process(env_overrides={"DJANGO_SECURE_COOKIES": "false"})
    origin = gateway.http_url
    gateway_host = urlsplit(origin).netloc
    refused: list[str] = []
    problems: list[str] = []

    async def only_the_gateway(route):
        if urlsplit(route.request.url).netloc == gateway_host:
            await route.continue_()
        else:
            refused.append(route.request.url)
            await route.abort()

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS)
        )
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 1000})
            await page.route("**/*", only_the_gateway)
            page.on(
                "console",
                lambda m: problems.append(m.text) if m.type == "error" else None,
            )
            page.on("pageerror", lambda error: problems.append(str(error)))
            await page.goto(
                f"{origin}/admin/login/?next=/admin/dashboard/%3Fperiod%3D{period}",
                timeout=10_000,
            )
            await page.fill("#id_username", "ops")
            await page.fill("#id_password", PASSWORD)
            async with asyncio.timeout(15):
                await page.click("input[type=submit]")
                await page.wait_for_selector(f"html[data-charts='{CHARTS}']")
            assert "/admin/dashboard/" in page.url
            drawn = await page.evaluate(
                """() => [...document.querySelectorAll("canvas")].map((canvas) => {
                  const chart = Chart.getChart(canvas);
                  const pixels = canvas.getContext("2d").getImageData(
                    0, 0, canvas.width, canvas.height).data;
                  let painted = 0;
                  for (let i = 3; i < pixels.length; i += 4) painted += pixels[i] > 0;
                  return {id: canvas.id, datasets: chart ? chart.data.datasets.length : 0,
                          width: canvas.width, painted};
                })"""
            )
            screenshot = tmp_path / f"dashboard-{period}.png"
            await page.screenshot(path=str(screenshot), full_page=True)
            if os.environ.get("GATEWAY_SCREENSHOTS"):
                await page.screenshot(
                    path=os.path.join(
                        os.environ["GATEWAY_SCREENSHOTS"], f"dashboard-{period}.png"
                    ),
                    full_page=True,
                )
        finally:
            await browser.close()

    assert problems == []
    assert refused == []
    assert len(drawn) == CHARTS
    for chart in drawn:
        assert chart["datasets"] >= 1, chart
        assert chart["width"] > 100, chart
        assert chart["painted"] > 500, chart  # bars and axes, not a blank canvas

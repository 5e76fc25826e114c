"""The admin's playground in real headless Chromium, through a real gateway.

A superuser logs into the admin of a real Daphne process, opens the playground
from the admin's index, picks a key whose provider is the fake OpenAI upstream,
starts (the server mints a short-lived token; the page opens the browser's own
WebSocket with it as a subprotocol), says "hello", and reads the reply, the
usage `response.done` reported and, after Stop, the session's final row; then
does the same with the key pasted.
Screenshots are kept in the test's tmp dir (their paths are printed).
"""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User

from tests.support.browser import chromium, require_browser

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(90),
]

PASSWORD = "a-long-pass-phrase"
WAIT_MS = 15_000


async def test_a_conversation_in_the_playground(
    gateway_process, fake_upstream, issue, tmp_path
):
    require_browser()  # before paying for a process
    from playwright.async_api import expect

    # The admin is driven over plain http; its cookies are HTTPS-only by default.
    gateway = gateway_process(env_overrides={"DJANGO_SECURE_COOKIES": "false"})
    issued = await issue(fake_upstream.url, name="demo-key", models=("gpt-realtime",))
    await sync_to_async(User.objects.create_superuser)("ops", "", PASSWORD)

    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1400, "height": 1100})
        page.set_default_timeout(WAIT_MS)
        await page.goto(f"{gateway.http_url}/admin/login/?next=/admin/")
        await page.fill("#id_username", "ops")
        await page.fill("#id_password", PASSWORD)
        await page.click("[type=submit]")
        await page.click("#gateway-tools a:text('Playground')")
        await expect(page).to_have_title("Playground | Realtime gateway")

        await page.select_option("#pg-key", str(issued.key_id))
        await expect(page.locator("#pg-model")).to_have_value("gpt-realtime")
        await page.click("#pg-start")
        await expect(page.locator("#pg-status")).to_contain_text(
            "Connected (protocol realtime)"
        )
        await page.fill("#pg-text", "hello")
        await page.press("#pg-text", "Enter")
        await expect(page.locator("#pg-transcript")).to_contain_text(
            "assistantYou said: hello"
        )
        live_total = page.locator('[data-usage="total_tokens"]')
        await expect(live_total).not_to_have_text("0")
        await expect(page.locator("#pg-events summary").first).to_have_text(
            "← session.created"
        )
        await page.click("#pg-events summary:text('← response.done')")
        talking = tmp_path / "playground-conversation.png"
        await page.screenshot(path=str(talking), full_page=True)

        await page.click("#pg-stop")
        await expect(page.locator("#pg-status")).to_have_text("Closed (code 1000).")
        await expect(page.locator('[data-row="status"]')).to_have_text("finished")
        row_total = page.locator('[data-row="total_tokens"]')
        await expect(row_total).to_have_text(await live_total.text_content() or "")
        ended = tmp_path / "playground-ended.png"
        await page.screenshot(path=str(ended), full_page=True)
        html = await page.content()
        requests = await page.evaluate(
            "performance.getEntriesByType('resource').map(e => e.name)"
        )

        # A pasted key: the page offers it itself (and warns it holds it).
        await page.check("[name=pg-mode][value=paste]")
        await expect(page.locator("#pg-paste-fields")).to_contain_text("read it")
        await page.fill("#pg-pasted", issued.token)
        await page.click("#pg-start")
        await expect(page.locator("#pg-status")).to_contain_text("Connected")
        await page.fill("#pg-text", "hello again")
        await page.click("#pg-send")
        await expect(page.locator("#pg-transcript")).to_contain_text(
            "You said: hello again"
        )
        await page.click("#pg-stop")
        await expect(page.locator("#pg-status")).to_have_text("Closed (code 1000).")
    print(f"screenshots: {talking} {ended}")

    assert issued.token not in html and "vk_" not in html
    origin = gateway.http_url
    assert all(url.startswith(origin) for url in requests), requests
    # The upstream saw two sessions, with the provider's credential only.
    assert len(fake_upstream.handshakes) == 2
    assert issued.token not in str(fake_upstream.handshakes)

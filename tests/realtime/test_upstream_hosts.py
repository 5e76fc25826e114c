"""At connect time: a provider's upstream must still be allowed, and a key's
credential goes only to the endpoint it was entered for."""

from __future__ import annotations

import pytest

from keys.models import Provider
from tests.support.communicators import (
    expect_error_and_close,
    only_session,
    open_session,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(20)]


async def test_a_provider_saved_before_the_list_changed_is_not_dialed(
    fake_upstream, issue, settings
):
    issued = await issue(fake_upstream.url)
    settings.GATEWAY_UPSTREAM_HOSTS = ["api.openai.com"]  # 127.0.0.1 is off it now
    session = await open_session(issued.token)
    await expect_error_and_close(
        session, code=4500, error_code="provider_misconfigured"
    )
    assert fake_upstream.handshakes == []
    row = await only_session()
    assert row.status == "failed"


async def test_a_key_whose_provider_moved_is_refused_before_any_dial(
    fake_upstream, issue
):
    issued = await issue(fake_upstream.url)
    # Moved behind the admin's back (a shell, a script), not through the admin.
    await Provider.objects.filter(slug="fake").aupdate(
        upstream_url="ws://localhost:9/v1/realtime"
    )
    session = await open_session(issued.token)
    await expect_error_and_close(session, code=4403, error_code="credential_stale")
    assert fake_upstream.handshakes == []
    row = await only_session()
    assert (row.status, row.close_code) == ("rejected", 4403)

"""The `usage` and `sweep_sessions` commands and the services behind the sweep."""

from __future__ import annotations

import datetime
import io
import json
import uuid

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from keys.models import VirtualKey
from realtime import close_codes, operations, services
from realtime.models import RealtimeSession, SessionStatus
from tests.support.keys import issue_key

pytestmark = pytest.mark.django_db

URL = "ws://127.0.0.1:9/v1/realtime"
REQUIRED_FIELDS = {
    "session_id",
    "virtual_key",
    "provider",
    "model",
    "status",
    "started_at",
    "ended_at",
    "close_code",
    "messages_from_client",
    "messages_from_upstream",
    "bytes_from_client",
    "bytes_from_upstream",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "total_tokens",
}


def run(command: str, *args: str) -> str:
    out = io.StringIO()
    call_command(command, *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def usage_json(*args: str) -> list[dict]:
    return json.loads(run("usage", "--json", *args))


def make_session(
    *,
    key: VirtualKey | None = None,
    provider: str = "fake",
    status: str = SessionStatus.FINISHED,
    ago: datetime.timedelta = datetime.timedelta(minutes=5),
    **fields: object,
) -> RealtimeSession:
    started = timezone.now() - ago
    if status != SessionStatus.ACTIVE:
        fields.setdefault("ended_at", started + datetime.timedelta(seconds=30))
    return RealtimeSession.objects.create(
        virtual_key=key,
        virtual_key_name=key.name if key else "",
        provider_slug=provider,
        model="gpt-realtime",
        status=status,
        started_at=started,
        **fields,
    )


def key_named(name: str, slug: str = "fake") -> VirtualKey:
    return VirtualKey.objects.get(pk=issue_key(URL, name=name, slug=slug).key_id)


# --- usage -------------------------------------------------------------------


def test_json_lists_sessions_with_their_counters():
    key = key_named("alice")
    session = make_session(
        key=key,
        close_code=1000,
        messages_from_client=3,
        messages_from_upstream=7,
        bytes_from_client=300,
        bytes_from_upstream=700,
        input_tokens=11,
        output_tokens=22,
        cached_tokens=4,
        total_tokens=33,
    )

    [row] = usage_json()
    assert REQUIRED_FIELDS.issubset(row)
    assert row["session_id"] == str(session.id)
    assert row["virtual_key"] == "alice"
    assert (row["provider"], row["model"], row["status"]) == (
        "fake",
        "gpt-realtime",
        "finished",
    )
    assert row["started_at"] == session.started_at.isoformat()
    assert row["ended_at"] == session.ended_at.isoformat()
    assert row["close_code"] == 1000
    counters = {
        "messages_from_client": 3,
        "messages_from_upstream": 7,
        "bytes_from_client": 300,
        "bytes_from_upstream": 700,
        "input_tokens": 11,
        "output_tokens": 22,
        "cached_tokens": 4,
        "total_tokens": 33,
    }
    assert {name: row[name] for name in counters} == counters


def test_json_is_an_empty_array_without_sessions():
    assert usage_json() == []


def test_json_passthrough_sessions_have_no_key_name():
    make_session(key=None)
    assert usage_json()[0]["virtual_key"] is None


def test_filters_by_key_provider_and_status():
    alice, bob = key_named("alice"), key_named("bob", slug="other")
    make_session(key=alice)
    make_session(key=alice, status=SessionStatus.FAILED)
    make_session(key=bob, provider="other")

    def keys(*args: str) -> list[tuple[str, str, str]]:
        return sorted(
            (row["virtual_key"], row["provider"], row["status"])
            for row in usage_json(*args)
        )

    assert keys("--key", "alice") == [
        ("alice", "fake", "failed"),
        ("alice", "fake", "finished"),
    ]
    assert keys("--provider", "other") == [("bob", "other", "finished")]
    assert keys("--status", "failed") == [("alice", "fake", "failed")]
    assert keys("--key", "bob", "--provider", "fake") == []


@pytest.mark.parametrize("since", ["24h", "1d", "1440m"])
def test_since_takes_durations(since: str):
    make_session(ago=datetime.timedelta(days=2))
    recent = make_session(ago=datetime.timedelta(hours=1))
    rows = usage_json("--since", since)
    assert [row["session_id"] for row in rows] == [str(recent.id)]


@pytest.mark.parametrize("naive", [False, True])
def test_since_takes_iso_times(naive: bool):
    make_session(ago=datetime.timedelta(days=2))
    recent = make_session(ago=datetime.timedelta(hours=1))
    moment = timezone.now() - datetime.timedelta(days=1)
    since = (timezone.make_naive(moment) if naive else moment).isoformat()
    rows = usage_json("--since", since)
    assert [row["session_id"] for row in rows] == [str(recent.id)]


def test_limit_keeps_the_newest():
    made = [make_session(ago=datetime.timedelta(hours=hours)) for hours in (3, 2, 1)]
    rows = usage_json("--limit", "2")
    assert [row["session_id"] for row in rows] == [str(made[2].id), str(made[1].id)]


@pytest.mark.parametrize("since", ["yesterday", "24x", "-1h", "2024-13-45"])
def test_a_bad_since_is_a_command_error(since: str):
    with pytest.raises(CommandError, match="neither an ISO time nor a duration"):
        run("usage", f"--since={since}")


@pytest.mark.parametrize(
    "since", ["2024-02-30T10:00:00", "2024-01-05 25:00", "9999999d"]
)
def test_an_impossible_since_is_a_command_error(since: str):
    with pytest.raises(CommandError):
        run("usage", "--since", since)


def test_an_unknown_status_is_a_command_error():
    with pytest.raises(CommandError, match="invalid choice"):
        run("usage", "--status", "bogus")


def test_table_output():
    key = key_named("alice")
    make_session(
        key=key,
        input_tokens=11,
        output_tokens=22,
        close_code=1000,
        messages_from_client=3,
        messages_from_upstream=7,
    )
    make_session(key=None, status=SessionStatus.ACTIVE)

    lines = run("usage").splitlines()
    assert lines[0].split() == [
        "started",
        "key",
        "provider",
        "model",
        "status",
        "secs",
        "msgs",
        "in/out",
        "tokens",
        "in/out",
        "cost_usd",
        "code",
    ]
    active, finished = lines[1], lines[2]
    assert "(passthrough)" in active
    assert "active" in active
    assert finished.split()[2:] == [
        "alice",
        "fake",
        "gpt-realtime",
        "finished",
        "30.0",
        "3/7",
        "11/22",
        "-",  # no price for the model: no cost
        "1000",
    ]
    assert lines[-1] == "2 session(s)"
    assert not run("usage").lstrip().startswith("[")


# --- sweep_sessions and sessions_interrupt -----------------------------------


def make_live(
    instance: str, *, started_ago: float, checkpoint_ago: float | None
) -> RealtimeSession:
    """An active row of `instance`; ages in seconds."""
    now = timezone.now()
    checkpoint = (
        None
        if checkpoint_ago is None
        else now - datetime.timedelta(seconds=checkpoint_ago)
    )
    return make_session(
        status=SessionStatus.ACTIVE,
        ago=datetime.timedelta(seconds=started_ago),
        gateway_instance=instance,
        checkpointed_at=checkpoint,
    )


@pytest.fixture
def fleet(settings) -> dict[str, RealtimeSession]:
    """Rows of two instances; stale means no heartbeat for over 90 s."""
    settings.GATEWAY_CHECKPOINT_SECONDS = 30
    return {
        # gw-1 is restarting: all of its active rows are dead.
        "gw1_fresh": make_live("gw-1", started_ago=60, checkpoint_ago=5),
        "gw1_new": make_live("gw-1", started_ago=5, checkpoint_ago=None),
        "gw1_done": make_session(gateway_instance="gw-1"),
        # gw-2 is alive: only its stale rows are dead.
        "gw2_stale_checkpoint": make_live("gw-2", started_ago=3600, checkpoint_ago=600),
        "gw2_unchecked": make_live("gw-2", started_ago=600, checkpoint_ago=None),
        "gw2_fresh": make_live("gw-2", started_ago=3600, checkpoint_ago=10),
        "gw2_new": make_live("gw-2", started_ago=10, checkpoint_ago=None),
        "gw2_failed_long_ago": make_session(
            gateway_instance="gw-2",
            status=SessionStatus.FAILED,
            ago=datetime.timedelta(days=1),
        ),
    }


INTERRUPTED = {"gw1_fresh", "gw1_new", "gw2_stale_checkpoint", "gw2_unchecked"}


def reload(session: RealtimeSession) -> RealtimeSession:
    return RealtimeSession.objects.get(pk=session.pk)


def test_sweep_interrupts_dead_rows_only(fleet: dict[str, RealtimeSession]):
    output = run("sweep_sessions", "--instance", "gw-1")
    assert output.strip() == f"Marked {len(INTERRUPTED)} session(s) interrupted."

    for name, before in fleet.items():
        after = reload(before)
        if name in INTERRUPTED:
            assert after.status == SessionStatus.INTERRUPTED, name
            assert after.ended_at == (before.checkpointed_at or before.started_at), name
            assert after.close_code == close_codes.GOING_AWAY, name
            assert after.error, name
        else:
            assert (after.status, after.ended_at, after.close_code) == (
                before.status,
                before.ended_at,
                before.close_code,
            ), name


def test_sweep_without_an_instance_takes_only_stale_rows(
    fleet: dict[str, RealtimeSession],
):
    assert run("sweep_sessions").strip() == "Marked 2 session(s) interrupted."
    interrupted = set(
        RealtimeSession.objects.filter(status=SessionStatus.INTERRUPTED).values_list(
            "pk", flat=True
        )
    )
    assert interrupted == {
        fleet["gw2_stale_checkpoint"].pk,
        fleet["gw2_unchecked"].pk,
    }


def test_sweeping_twice_changes_nothing_more(fleet: dict[str, RealtimeSession]):
    run("sweep_sessions", "--instance", "gw-1")
    assert operations.sessions_interrupt(instance="gw-1") == 0


def test_sessions_interrupt_needs_an_instance_or_a_cutoff(
    fleet: dict[str, RealtimeSession],
):
    assert operations.sessions_interrupt() == 0
    assert not RealtimeSession.objects.filter(status=SessionStatus.INTERRUPTED).exists()


def test_sessions_interrupt_by_instance_leaves_other_instances(
    fleet: dict[str, RealtimeSession],
):
    assert operations.sessions_interrupt(instance="gw-2") == 4
    assert reload(fleet["gw1_fresh"]).status == SessionStatus.ACTIVE
    assert reload(fleet["gw2_new"]).status == SessionStatus.INTERRUPTED


def test_a_checkpoint_revives_an_interrupted_row(fleet: dict[str, RealtimeSession]):
    session = fleet["gw1_fresh"]
    operations.sessions_interrupt(instance="gw-1")
    services.session_checkpoint(
        session_id=session.pk, counters={"messages_from_client": 9, "input_tokens": 5}
    )
    after = reload(session)
    assert after.status == SessionStatus.ACTIVE
    assert after.ended_at is None
    assert after.checkpointed_at > session.checkpointed_at
    assert (after.messages_from_client, after.input_tokens) == (9, 5)


def test_a_revived_row_forgets_the_interruption(fleet: dict[str, RealtimeSession]):
    session = fleet["gw1_fresh"]
    operations.sessions_interrupt(instance="gw-1")
    services.session_checkpoint(session_id=session.pk, counters={})
    after = reload(session)
    assert after.status == SessionStatus.ACTIVE
    assert (after.close_code, after.error) == (None, "")


def test_finishing_an_interrupted_row_gives_its_final_status(
    fleet: dict[str, RealtimeSession],
):
    session = fleet["gw1_fresh"]
    operations.sessions_interrupt(instance="gw-1")
    finished = services.session_finish(
        session_id=session.pk,
        status=SessionStatus.FINISHED,
        close_code=1000,
        error="",
        counters={"output_tokens": 12},
    )
    assert finished is True
    after = reload(session)
    assert (after.status, after.close_code, after.error) == ("finished", 1000, "")
    assert after.ended_at > session.checkpointed_at
    assert after.output_tokens == 12


def test_finished_rows_are_final(fleet: dict[str, RealtimeSession]):
    session = fleet["gw2_failed_long_ago"]
    assert not services.session_finish(
        session_id=session.pk,
        status=SessionStatus.FINISHED,
        close_code=1000,
        error="",
        counters={},
    )
    services.session_checkpoint(session_id=session.pk, counters={"input_tokens": 1})
    after = reload(session)
    assert (after.status, after.ended_at, after.input_tokens) == (
        SessionStatus.FAILED,
        session.ended_at,
        0,
    )
    assert not services.session_finish(
        session_id=uuid.uuid4(),
        status="finished",
        close_code=None,
        error="",
        counters={},
    )

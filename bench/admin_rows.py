"""The admin and the dashboard on 1,000,000 session rows in PostgreSQL.

`python -m bench.admin_rows` (or `bash bench/admin.sh`): creates a throwaway
database on the local PostgreSQL, migrates it, seeds providers, teams, keys and
a million sessions in one `INSERT ... SELECT` over `generate_series` (60 days,
busier lately, Zipf-like keys, realistic statuses, end reasons and close codes),
runs `VACUUM ANALYZE`, then requests each admin page and each dashboard view with
Django's test client as a superuser: wall time (p50, max over `--runs`), the SQL
queries each page runs, and EXPLAIN ANALYZE of the slowest ones. Writes
bench/ADMIN_RESULTS.md and drops the database (unless `--keep`).

Not part of the test suite (minutes, PostgreSQL only); tests/realtime/
test_dashboard.py checks the same pages' query counts on a few rows.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "ADMIN_RESULTS.md"
DATABASE = "gateway_bench_admin"
SERVER = "postgres://postgres@127.0.0.1:5432"
PROVIDERS = ("openai", "azure", "google", "elevenlabs", "cartesia")
MODELS_PER_PROVIDER = 4
KEYS = 200
TEAMS = 12


def _environment(server: str) -> None:
    os.environ["DATABASE_URL"] = f"{server}/{DATABASE}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway_project.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key")
    os.environ.setdefault(
        "GATEWAY_ENCRYPTION_KEYS", "2eSRvdG7uAyRzQ0W7dTwgFtHl-UfhFiNai8QdPafJP8="
    )
    os.environ["DJANGO_DEBUG"] = "false"
    os.environ["DJANGO_ALLOWED_HOSTS"] = "testserver"
    os.environ.setdefault("GATEWAY_LOG_LEVEL", "WARNING")


def _admin_database(server: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
        connection.execute(statement)


# One row a session; `g` holds each row's dice. Columns not named here get 0 or ''.
SEED_SQL = """
CREATE TEMP TABLE bench_keys AS
SELECT (row_number() OVER (ORDER BY k.id)) - 1 AS n, k.id, k.name,
       k.provider_id, p.slug
FROM keys_virtualkey k JOIN keys_provider p ON p.id = k.provider_id;

INSERT INTO realtime_realtimesession ({columns})
SELECT {values}
FROM (
  SELECT i,
         random() AS r_status, random() AS r_reason, random() AS r_model,
         random() AS r_duration, random() AS r_in, random() AS r_out,
         CASE WHEN random() < 0.05 THEN -1
              ELSE floor({keys} * power(random(), 2.5))::int END AS key_n,
         CASE WHEN i <= {active}
              THEN now() - random() * interval '20 minutes'
              ELSE now() - interval '60 days' * power(random(), 1.6) END AS started
  FROM generate_series(1, {rows}) AS i
) AS g
LEFT JOIN bench_keys k ON k.n = g.key_n
CROSS JOIN LATERAL (SELECT CASE
    WHEN g.i <= {active} THEN 'active'
    WHEN g.r_status < 0.90 THEN 'finished'
    WHEN g.r_status < 0.95 THEN 'failed'
    WHEN g.r_status < 0.98 THEN 'rejected'
    ELSE 'interrupted' END AS status) AS s
CROSS JOIN LATERAL (SELECT
    coalesce(k.slug, (ARRAY[{providers}])[1 + (g.i % {provider_count})]) AS slug)
    AS p
ORDER BY g.started  -- rows land in time order, as a live log's do
"""

_VALUES = {
    "id": "gen_random_uuid()",
    "virtual_key_id": "k.id",
    "virtual_key_name": "coalesce(k.name, '')",
    "provider_id": "(SELECT id FROM keys_provider WHERE slug = p.slug)",
    "provider_slug": "p.slug",
    "model": "p.slug || '-model-' || floor(g.r_model * {models})::int",
    "client_address": "'10.0.' || (g.i % 200) || '.' || (g.i % 250)",
    "gateway_instance": "'gw-' || (g.i % 4)",
    "status": "s.status",
    "started_at": "g.started",
    "ended_at": "CASE WHEN s.status = 'active' THEN NULL"
    " ELSE g.started + g.r_duration * interval '15 minutes' END",
    "checkpointed_at": "CASE WHEN s.status = 'active' THEN now() ELSE NULL END",
    "close_code": """CASE s.status WHEN 'active' THEN NULL
        WHEN 'finished' THEN (CASE WHEN g.r_reason < 0.9 THEN 1000 ELSE 1006 END)
        WHEN 'failed' THEN (CASE WHEN g.r_reason < 0.6 THEN 1011 ELSE 1013 END)
        WHEN 'rejected' THEN (CASE WHEN g.r_reason < 0.5 THEN 4403
                                   WHEN g.r_reason < 0.8 THEN 4429 ELSE 1008 END)
        ELSE 1001 END""",
    "end_reason": """CASE s.status WHEN 'active' THEN ''
        WHEN 'finished' THEN (CASE WHEN g.r_reason < 0.8 THEN 'client_closed'
            WHEN g.r_reason < 0.9 THEN 'upstream_closed' ELSE 'client_vanished' END)
        WHEN 'failed' THEN (CASE WHEN g.r_reason < 0.6 THEN 'upstream_failed'
            ELSE 'upstream_unavailable' END)
        WHEN 'rejected' THEN (CASE WHEN g.r_reason < 0.5 THEN 'key_revoked'
            WHEN g.r_reason < 0.8 THEN 'rate_limited' ELSE 'model_not_allowed' END)
        ELSE 'gateway_process_lost' END""",
    "attempts": "CASE WHEN s.status = 'rejected' THEN 1 + (g.i % 3) ELSE 1 END",
    "input_tokens": "CASE WHEN s.status = 'rejected' THEN 0"
    " ELSE floor(g.r_in * 8000)::bigint END",
    "output_tokens": "CASE WHEN s.status = 'rejected' THEN 0"
    " ELSE floor(g.r_out * 4000)::bigint END",
    "total_tokens": "CASE WHEN s.status = 'rejected' THEN 0"
    " ELSE floor(g.r_in * 8000)::bigint + floor(g.r_out * 4000)::bigint END",
    "messages_from_client": "floor(g.r_duration * 400)::bigint",
    "messages_from_upstream": "floor(g.r_duration * 900)::bigint",
    "bytes_from_client": "floor(g.r_duration * 4000000)::bigint",
    "bytes_from_upstream": "floor(g.r_duration * 9000000)::bigint",
    "cost_usd": "CASE WHEN s.status = 'rejected' THEN NULL"
    " ELSE round((g.r_in * 8000 * 0.000032 + g.r_out * 4000 * 0.000064)"
    "::numeric, 6) END",
}


def seed(rows: int, *, active: int = 300) -> float:
    """Providers, teams and keys through the ORM, then `rows` sessions in SQL."""
    from django.db import connection
    from django.db.models import fields as model_fields

    from keys.models import Provider, Team, VirtualKey
    from realtime.models import RealtimeSession

    started = time.perf_counter()
    providers = Provider.objects.bulk_create(
        Provider(slug=slug, kind=slug) for slug in PROVIDERS
    )
    teams = Team.objects.bulk_create(Team(name=f"team-{n:02d}") for n in range(TEAMS))
    VirtualKey.objects.bulk_create(
        VirtualKey(
            name=f"key-{n:03d}",
            team=teams[n % TEAMS] if n % 7 else None,
            provider=providers[n % len(PROVIDERS)],
            encrypted_credential="fernet$bench",
            key_prefix=f"rk_{n:03d}",
            key_digest=f"sha256$bench{n:03d}",
        )
        for n in range(KEYS)
    )
    columns, values = [], []
    for model_field in RealtimeSession._meta.concrete_fields:
        columns.append(model_field.column)
        expression = _VALUES.get(model_field.column)
        if expression is None:
            text = isinstance(model_field, model_fields.CharField)
            expression = "''" if text else "0"
        values.append(expression.format(models=MODELS_PER_PROVIDER))
    sql = SEED_SQL.format(
        columns=", ".join(columns),
        values=",\n       ".join(values),
        keys=KEYS,
        rows=rows,
        active=active,
        providers=", ".join(f"'{slug}'" for slug in PROVIDERS),
        provider_count=len(PROVIDERS),
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
    connection.close()
    with connection.cursor() as cursor:  # a fresh autocommit connection
        cursor.execute("VACUUM ANALYZE")
    return time.perf_counter() - started


@dataclass
class PageResult:
    name: str
    url: str
    status: int
    queries: int
    times_ms: list[float]
    slowest: list[tuple[float, str]] = field(default_factory=list)


def pages() -> list[tuple[str, str]]:
    """The pages to time: (what, URL)."""
    from django.urls import reverse

    from realtime.models import RealtimeSession

    sessions = reverse("admin:realtime_realtimesession_changelist")
    session = RealtimeSession.objects.order_by("-started_at").first()
    assert session is not None
    key_id = session.virtual_key_id or 1
    day = session.started_at
    found = [
        ("admin index", reverse("admin:index")),
        ("sessions: unfiltered", sessions),
        ("sessions: status=failed", f"{sessions}?status=failed"),
        ("sessions: provider=azure", f"{sessions}?provider_slug=azure"),
        ("sessions: one key", f"{sessions}?virtual_key__id__exact={key_id}"),
        (
            "sessions: one day",
            f"{sessions}?started_at__year={day.year}&started_at__month={day.month}"
            f"&started_at__day={day.day}",
        ),
        ("sessions: last 7 days", f"{sessions}?started_at__gte={_days_ago(7)}"),
        ("sessions: search key-042", f"{sessions}?q=key-042"),
        ("sessions: page 50", f"{sessions}?p=50"),
        (
            "session detail",
            reverse("admin:realtime_realtimesession_change", args=[session.pk]),
        ),
        ("virtual keys", reverse("admin:keys_virtualkey_changelist")),
        ("teams", reverse("admin:keys_team_changelist")),
    ]
    dashboard = reverse("realtime_dashboard")
    for period in ("24h", "30d"):
        for group in ("provider", "model", "key", "team"):
            found.append(
                (
                    f"dashboard: {period} by {group}",
                    f"{dashboard}?period={period}&group={group}",
                )
            )
    return found


def _days_ago(days: int) -> str:
    import datetime

    from django.utils import timezone

    return (timezone.now() - datetime.timedelta(days=days)).strftime("%Y-%m-%d")


def time_page(client, name: str, url: str, runs: int) -> PageResult:
    """Request `url` once to warm up, then `runs` times, capturing the queries."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(url)
    times, captured = [], None
    for _ in range(runs):
        with CaptureQueriesContext(connection) as context:
            started = time.perf_counter()
            response = client.get(url)
            times.append(1000 * (time.perf_counter() - started))
        captured = context.captured_queries
    assert captured is not None
    slowest = sorted(
        ((float(query["time"]) * 1000, query["sql"]) for query in captured),
        reverse=True,
    )
    return PageResult(
        name, url, response.status_code, len(captured), times, slowest[:3]
    )


def explain(sql: str) -> str:
    """EXPLAIN ANALYZE's plan for one captured query."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


def report(
    results: list[PageResult],
    *,
    rows: int,
    seconds: float,
    runs: int,
    plans: list[tuple[str, float, str, str]],
    load: tuple[float, float, float],
) -> str:
    """The results as Markdown."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        server = cursor.fetchone()[0]
    lines = [
        "# The admin and the dashboard on 1,000,000 session rows",
        "",
        "Measured by `bench/admin_rows.py` (rerun: `bash bench/admin.sh`, see the",
        "module docstring and bench/README.md). Django's test client, logged in as a",
        "superuser, in one process with PostgreSQL "
        f"{server.split()[0]} on 127.0.0.1; {platform.processor() or 'x86_64'}, "
        f"{os.cpu_count()} cores shared with other work, Python "
        f"{platform.python_version()}. Load average (1 min) before and after: "
        f"{load[0]:.1f} and {os.getloadavg()[0]:.1f} (other work on the machine "
        "makes the times noisy; the query counts and plans are not).",
        "",
        f"Seeded {rows:,} sessions over 60 days ({KEYS} keys in {TEAMS} teams, "
        f"{len(PROVIDERS)} providers, {len(PROVIDERS) * MODELS_PER_PROVIDER} models) "
        f"in {seconds:.0f} s, then `VACUUM ANALYZE`. Each page: one warm-up request, "
        f"then {runs} timed; wall time of the whole request (query, render).",
        "",
        "| page | status | SQL queries | p50 ms | max ms | slowest query ms |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for result in results:
        slowest = result.slowest[0][0] if result.slowest else 0.0
        lines.append(
            f"| {result.name} | {result.status} | {result.queries} | "
            f"{statistics.median(result.times_ms):.0f} | "
            f"{max(result.times_ms):.0f} | {slowest:.0f} |"
        )
    lines += ["", "## The slowest queries, with EXPLAIN ANALYZE", ""]
    for name, milliseconds, sql, plan in plans:
        lines += [
            f"### {name}: {milliseconds:.0f} ms",
            "",
            "```sql",
            _shorten(sql),
            "```",
            "",
            "```",
            plan,
            "```",
            "",
        ]
    return "\n".join(lines) + "\n"


def _shorten(sql: str) -> str:
    """A captured query without its long column list."""
    return re.sub(r"^SELECT .{300,}? FROM", "SELECT ... FROM", sql, flags=re.DOTALL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--server", default=SERVER, help="a PostgreSQL URL, no db")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    parser.add_argument(
        "--reuse", action="store_true", help="reuse a kept database (no reseed)"
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    options = parser.parse_args(argv)
    load = os.getloadavg()
    _environment(options.server)
    if not options.reuse:
        _admin_database(options.server, f"DROP DATABASE IF EXISTS {DATABASE}")
        _admin_database(options.server, f"CREATE DATABASE {DATABASE}")
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    try:
        call_command("migrate", verbosity=0)
        seconds = 0.0
        if not options.reuse:
            seconds = seed(options.rows)
            print(f"seeded {options.rows:,} rows in {seconds:.1f} s", flush=True)
        admin, _ = User.objects.get_or_create(
            username="bench", defaults={"is_staff": True, "is_superuser": True}
        )
        client = Client()
        client.force_login(admin)
        results = []
        for name, url in pages():
            result = time_page(client, name, url, options.runs)
            results.append(result)
            print(
                f"{name:34} {result.status} {result.queries:3} queries "
                f"p50 {statistics.median(result.times_ms):7.1f} ms "
                f"max {max(result.times_ms):7.1f} ms",
                flush=True,
            )
        plans = _plans(results, explain)
        options.output.write_text(
            report(
                results,
                rows=options.rows,
                seconds=seconds,
                runs=options.runs,
                plans=plans,
                load=load,
            )
        )
        print(f"wrote {options.output}")
    finally:
        connection.close()
        if not options.keep:
            _admin_database(options.server, f"DROP DATABASE IF EXISTS {DATABASE}")
    return 0


def _plans(
    results: list[PageResult], explain: Callable[[str], str], *, count: int = 6
) -> list[tuple[str, float, str, str]]:
    """EXPLAIN ANALYZE of the `count` slowest queries over all pages, one of
    each shape (the same query with other literals counts once)."""
    slowest: dict[str, tuple[float, str, str]] = {}
    for result in results:
        for milliseconds, sql in result.slowest:
            shape = re.sub(r"'[^']*'|\d+", "?", sql)
            if shape not in slowest or slowest[shape][0] < milliseconds:
                slowest[shape] = (milliseconds, result.name, sql)
    ranked = sorted(slowest.values(), reverse=True)[:count]
    return [(name, ms, sql, explain(sql)) for ms, name, sql in ranked]


if __name__ == "__main__":
    sys.exit(main())

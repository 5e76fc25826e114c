from __future__ import annotations

import csv
import datetime
import json
import re
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from keys.values import Spend
from realtime import selectors
from realtime.models import SessionStatus

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_TABLE = [
    ("started", 19),
    ("key", 16),
    ("provider", 10),
    ("model", 22),
    ("status", 11),
    ("secs", 8),
    ("msgs in/out", 13),
    ("tokens in/out", 15),
    ("cost_usd", 10),
    ("code", 5),
]


def parse_moment(value: str) -> datetime.datetime:
    """An ISO time, or a duration ago such as 30m, 24h, 7d."""
    match = _DURATION.match(value.strip())
    try:
        if match:
            amount, unit = match.groups()
            return timezone.now() - datetime.timedelta(**{_UNITS[unit]: int(amount)})
        moment = parse_datetime(value)
    except (ValueError, OverflowError):
        raise CommandError(f"{value!r} is not a time that exists.") from None
    if moment is None:
        raise CommandError(f"{value!r} is neither an ISO time nor a duration like 24h.")
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


class Command(BaseCommand):
    help = "List realtime sessions and their usage, newest first."

    def add_arguments(self, parser: CommandParser) -> None:
        output = parser.add_mutually_exclusive_group()
        output.add_argument("--json", action="store_true", help="A JSON array.")
        output.add_argument("--csv", action="store_true", help="CSV with a header row.")
        parser.add_argument("--key", help="Only this virtual key (by name).")
        parser.add_argument("--provider", help="Only this provider (by slug).")
        parser.add_argument("--status", choices=SessionStatus.values)
        parser.add_argument(
            "--end-reason", help="Only sessions that ended so (e.g. key_revoked)."
        )
        parser.add_argument("--since", help="ISO time or duration ago (24h, 7d).")
        parser.add_argument("--until", help="ISO time or duration ago.")
        parser.add_argument("--limit", type=int, help="At most this many sessions.")
        parser.add_argument(
            "--by",
            choices=["key", "team"],
            help="Instead of sessions: what each key (or team; with --key or "
            "--team, that one) used today and this month, UTC.",
        )
        parser.add_argument("--team", help="With --by team: only this team.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["by"]:
            self._to_date(options)
            return
        if options["team"]:
            raise CommandError("--team goes with --by team.")
        sessions = selectors.sessions_list(
            virtual_key=options["key"],
            provider=options["provider"],
            status=options["status"],
            end_reason=options["end_reason"],
            since=parse_moment(options["since"]) if options["since"] else None,
            until=parse_moment(options["until"]) if options["until"] else None,
            limit=options["limit"],
        )
        rows = [selectors.session_as_dict(session) for session in sessions]
        if options["json"]:
            self.stdout.write(json.dumps(rows, indent=2))
            return
        if options["csv"]:
            self._write_csv(rows)
            return
        self.stdout.write(_format_row([name for name, _ in _TABLE]))
        for row in rows:
            self.stdout.write(_format_row(_table_cells(row)))
        self.stdout.write(f"{len(rows)} session(s)")
        if options["key"]:
            for name, usage in selectors.usage_to_date_named(
                by="key", name=options["key"]
            ):
                self.stdout.write(f"{name} today (UTC): {_spend(usage.today)}")
                self.stdout.write(f"{name} this month (UTC): {_spend(usage.month)}")

    def _write_csv(self, rows: list[dict[str, Any]]) -> None:
        writer = csv.DictWriter(
            self.stdout, fieldnames=list(selectors.SESSION_COLUMNS), lineterminator="\n"
        )
        writer.writeheader()
        writer.writerows(rows)

    def _to_date(self, options: dict[str, Any]) -> None:
        by = options["by"]
        rows = selectors.usage_to_date_named(by=by, name=options[by])
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    [
                        {
                            by: name,
                            "today": _spend_dict(usage.today),
                            "month": _spend_dict(usage.month),
                        }
                        for name, usage in rows
                    ],
                    indent=2,
                )
            )
            return
        self.stdout.write(
            f"{by:<24}  {'today: sessions':>15} {'tokens':>12} {'cost_usd':>12}"
            f"  {'month: sessions':>15} {'tokens':>12} {'cost_usd':>12}"
        )
        for name, usage in rows:
            day, month = usage.today, usage.month
            self.stdout.write(
                f"{name[:24]:<24}  {day.sessions:>15} {day.tokens:>12} "
                f"{day.cost_usd:>12.4f}  {month.sessions:>15} {month.tokens:>12} "
                f"{month.cost_usd:>12.4f}"
            )


def _spend(spend: Spend) -> str:
    return (
        f"{spend.sessions} session(s), {spend.tokens} tokens, {spend.cost_usd:.4f} USD"
    )


def _spend_dict(spend: Spend) -> dict[str, Any]:
    return {
        "sessions": spend.sessions,
        "tokens": spend.tokens,
        "cost_usd": float(spend.cost_usd),
    }

    def _write_csv(self, rows: list[dict[str, Any]]) -> None:
        writer = csv.DictWriter(
            self.stdout, fieldnames=list(selectors.SESSION_COLUMNS), lineterminator="\n"
        )
        writer.writeheader()
        writer.writerows(rows)


def _table_cells(row: dict) -> list[str]:
    seconds = row["duration_seconds"]
    return [
        (row["started_at"] or "")[:19].replace("T", " "),
        row["virtual_key"] or "(passthrough)",
        row["provider"],
        row["model"] or "-",
        row["status"],
        "-" if seconds is None else f"{seconds:.1f}",
        f"{row['messages_from_client']}/{row['messages_from_upstream']}",
        f"{row['input_tokens']}/{row['output_tokens']}",
        "-" if row["cost_usd"] is None else f"{row['cost_usd']:.4f}",
        str(row["close_code"] or "-"),
    ]


def _format_row(cells: list[str]) -> str:
    return "  ".join(
        cell[:width].ljust(width)
        for cell, (_, width) in zip(cells, _TABLE, strict=True)
    ).rstrip()

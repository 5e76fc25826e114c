"""The limit and budget flags that `create_virtual_key`, `update_virtual_key`
and `create_team` share, and their parsing.

A flag left out leaves its value alone (argparse.SUPPRESS: it is absent from the
options); `none` clears it (no limit).
"""

from __future__ import annotations

import argparse
import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from keys import exceptions, selectors
from keys.models import Team

NONE = "none"

# flag -> (the key's field, what it takes)
_COUNTS = {
    "--max-sessions": ("max_concurrent_sessions", "N", "Most concurrent sessions."),
    "--sessions-per-minute": (
        "sessions_per_minute",
        "N",
        "Most sessions started in any 60 s, across processes (4429 rate_limited).",
    ),
    "--max-session-seconds": (
        "max_session_seconds",
        "S",
        "Close a session after this long (4408 session_duration_exceeded).",
    ),
    "--idle-timeout": (
        "idle_timeout_seconds",
        "S",
        "Close a session with no frame either way for this long (4408 idle_timeout).",
    ),
}
_BUDGETS = {
    "--budget-usd-day": ("budget_usd_day", "USD", "Budget per UTC day, in USD."),
    "--budget-usd-month": ("budget_usd_month", "USD", "Budget per UTC month, in USD."),
    "--budget-tokens-day": ("budget_tokens_day", "N", "Budget per UTC day, in tokens."),
    "--budget-tokens-month": (
        "budget_tokens_month",
        "N",
        "Budget per UTC month, in tokens.",
    ),
}


def _or_none(parse: Any) -> Any:
    def parse_or_none(value: str) -> Any:
        if value.strip().lower() == NONE:
            return None
        try:
            return parse(value.strip())
        except (ValueError, InvalidOperation, OverflowError):
            message = f"{value!r}: expected {parse.__doc__}"
            raise argparse.ArgumentTypeError(message) from None

    return parse_or_none


def _int(value: str) -> int:
    """a whole number or 'none'"""
    return int(value)


def _usd(value: str) -> Decimal:
    """an amount in USD or 'none'"""
    amount = Decimal(value)
    if not amount.is_finite():
        raise ValueError(value)
    return amount


def _moment(value: str) -> datetime.datetime:
    """an ISO time (UTC unless it names its zone) or 'none'"""
    moment = parse_datetime(value)
    if moment is None:
        raise ValueError(value)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, datetime.UTC)
    return moment


def add_budget_arguments(parser: CommandParser) -> None:
    """The four budget flags."""
    for flag, (field, metavar, help_text) in _BUDGETS.items():
        parse = _usd if metavar == "USD" else _int
        parser.add_argument(
            flag,
            dest=field,
            metavar=metavar,
            type=_or_none(parse),
            default=argparse.SUPPRESS,
            help=f"{help_text} 'none': no budget.",
        )


def add_key_arguments(parser: CommandParser, *, update: bool) -> None:
    """Every flag of a key's team, models, limits, times and budgets."""
    team = parser.add_mutually_exclusive_group()
    team.add_argument("--team", metavar="NAME", help="The team the key joins.")
    if update:
        team.add_argument("--no-team", action="store_true", help="Leave its team.")
    parser.add_argument(
        "--models",
        default=argparse.SUPPRESS,
        help="Allowed models, m1,m2 (a trailing * matches a prefix)"
        + ("; 'any' (or '') lifts the list." if update else "."),
    )
    for flag, (field, metavar, help_text) in _COUNTS.items():
        parser.add_argument(
            flag,
            dest=field,
            metavar=metavar,
            type=_or_none(_int),
            default=argparse.SUPPRESS,
            help=f"{help_text} 'none': no limit.",
        )
    expiry = parser.add_mutually_exclusive_group()
    expiry.add_argument(
        "--expires-in",
        type=int,
        metavar="SECONDS",
        default=argparse.SUPPRESS,
        help="Expire this long from now.",
    )
    expiry.add_argument(
        "--expires-at",
        metavar="ISO",
        type=_or_none(_moment),
        default=argparse.SUPPRESS,
        help="Expire at this time; 'none': never.",
    )
    parser.add_argument(
        "--not-before",
        metavar="ISO",
        type=_or_none(_moment),
        default=argparse.SUPPRESS,
        help="Refuse the key until this time (key_not_yet_valid); 'none': from now.",
    )
    add_budget_arguments(parser)


def budgets_from(options: dict[str, Any]) -> dict[str, Any]:
    """The budget values the command line set."""
    fields = [field for field, _, _ in _BUDGETS.values()]
    return {field: options[field] for field in fields if field in options}


def key_changes_from(options: dict[str, Any]) -> dict[str, Any]:
    """What the command line sets on a key: its team, models, limits, times
    and budgets (`keys.services.UPDATABLE_FIELDS`)."""
    changes: dict[str, Any] = budgets_from(options)
    for field, _, _ in _COUNTS.values():
        if field in options:
            changes[field] = options[field]
    if options.get("team"):
        changes["team"] = team_named(options["team"])
    elif options.get("no_team"):
        changes["team"] = None
    if "models" in options:
        models = options["models"]
        changes["allowed_models"] = (
            [] if models.strip().lower() == "any" else models.split(",")
        )
    if "expires_in" in options:
        if options["expires_in"] <= 0:
            raise CommandError("--expires-in must be a positive number of seconds.")
        changes["expires_at"] = timezone.now() + datetime.timedelta(
            seconds=options["expires_in"]
        )
    elif "expires_at" in options:
        changes["expires_at"] = options["expires_at"]
    if "not_before" in options:
        changes["not_before"] = options["not_before"]
    return changes


def team_named(name: str) -> Team:
    """The team called `name`, or CommandError."""
    try:
        return selectors.team_get(name=name)
    except exceptions.KeyNotFound:
        raise CommandError(f"No team {name!r}; create it with create_team.") from None

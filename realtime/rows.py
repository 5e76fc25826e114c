"""The two writes every session makes, with their SQL built once.

For each session the ORM builds a model instance and an INSERT of the session
row's 45 columns, and at its end a filtered UPDATE, compiling each anew: in a
profile of session setups under `rungateway` (bench/README.md, setup rate) the
INSERT alone took an eighth of the gateway's CPU. These run the same
statements with the SQL text built once per database alias, the constant
defaults converted once, and every other value converted by its field exactly
as the ORM converts it (`Field.get_db_prep_save`), so SQLite and PostgreSQL get
what `QuerySet.create` and `QuerySet.update` would send them.
https://docs.djangoproject.com/en/5.2/topics/db/sql/#executing-custom-sql-directly

Per statement, what Django's cursor would redo each time is done once too:

- The SQL is also built in the driver's own placeholder style and run on the
  driver's cursor, after the checks Django's cursor makes and under its error
  mapping (`wrap_database_errors`: callers still get `django.db` errors).
  Django's SQLite cursor would otherwise rewrite each statement's `%s` into
  `?` with a regular expression. When Django must see the statement (queries
  logged: DEBUG or a test counting them; an `execute_wrapper` installed), it
  goes through Django's cursor instead.
- A value of a type whose conversion is known from the field's class
  (`_conversion`: a str for a CharField, an int for an IntegerField, a float
  for a FloatField, or None) is converted as `get_db_prep_save` converts it,
  without its chain of calls; any other value still goes through it.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connections, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.base.operations import BaseDatabaseOperations
from django.db.models import (
    CharField,
    Field,
    FloatField,
    IntegerField,
    PositiveBigIntegerField,
    PositiveIntegerField,
)

from realtime.models import RealtimeSession, SessionStatus

_META = RealtimeSession._meta
_FIELDS: tuple[Field, ...] = tuple(_META.local_concrete_fields)
_BY_NAME: dict[str, Field] = {field.attname: field for field in _FIELDS}
_POSITION: dict[str, int] = {field.attname: i for i, field in enumerate(_FIELDS)}
# Every concrete field has a column (the stubs allow None for other fields).
_COLUMN: dict[str, str] = {field.attname: field.column or "" for field in _FIELDS}

# The drivers whose placeholder style is known: SQLite's qmark, psycopg's
# format (Django's own, so its SQL is unchanged).
_PLACEHOLDERS = {"sqlite": "?", "postgresql": "%s"}

# A known conversion: the value types it applies to, and the function making a
# non-None value's database value (None: the value itself).
_Conversion = tuple[tuple[type, ...], Callable[[Any], Any] | None]


@dataclass(frozen=True, slots=True)
class _Dialect:
    """What one database alias needs, worked out once."""

    placeholder: str | None  # the driver's (None: Django's cursor, always)
    conversions: dict[str, _Conversion]  # by attribute name


@dataclass(frozen=True, slots=True)
class _Statement:
    sql: str  # Django's placeholders (%s), for Django's cursor
    driver_sql: str | None  # the driver's (None: Django's cursor, always)


@dataclass(frozen=True, slots=True)
class _Insert:
    statement: _Statement
    constants: tuple[Any, ...]  # each column's default, converted
    computed: tuple[int, ...]  # the columns whose default is computed per row


_dialects: dict[str, _Dialect] = {}
_inserts: dict[str, _Insert] = {}
# UPDATE statements by alias and the columns they set (a session sets those
# its counters grew in: a few sets in practice, capped all the same).
_updates: dict[tuple[str, tuple[str, ...]], _Statement] = {}
_MOST_UPDATES = 512


def _alias() -> str:
    return router.db_for_write(RealtimeSession)


def _conversion(field: Field, connection: BaseDatabaseWrapper) -> _Conversion | None:
    """What `field.get_db_prep_save(value, connection)` gives for some value
    types, read from Django's code (5.2) for these exact field classes; none
    of them overrides `get_db_prep_save`, whose `as_sql` test these types fail.

    - CharField: `get_prep_value` returns `to_python(value)`, which returns a
      str or None as it is.
    - FloatField: `get_prep_value` returns None, or `float(value)`: a float
      itself.
    - IntegerField and its positive kinds: `get_prep_value` returns None, or
      `int(value)`: an int itself; `get_db_prep_value` then returns the
      backend's `adapt_integerfield_value(value, internal type)`: the value
      itself (the base operations), or on psycopg 3 None itself and any other
      value wrapped in `integerfield_type_map[internal type]`.
    """
    kind = type(field)
    if kind is CharField:
        return (str, type(None)), None
    if kind is FloatField:
        return (float, type(None)), None
    if kind not in (IntegerField, PositiveIntegerField, PositiveBigIntegerField):
        return None
    adapt = type(connection.ops).adapt_integerfield_value
    if adapt is BaseDatabaseOperations.adapt_integerfield_value:
        return (int, type(None)), None
    if connection.vendor == "postgresql":
        from django.db.backends.postgresql.operations import DatabaseOperations

        if adapt is DatabaseOperations.adapt_integerfield_value and hasattr(
            connection.ops, "integerfield_type_map"
        ):
            wrap = connection.ops.integerfield_type_map[field.get_internal_type()]
            return (int, type(None)), wrap
    return None


def _dialect_for(alias: str) -> _Dialect:
    dialect = _dialects.get(alias)
    if dialect is None:
        connection = connections[alias]
        conversions = {
            field.attname: conversion
            for field in _FIELDS
            if (conversion := _conversion(field, connection)) is not None
        }
        placeholder = _PLACEHOLDERS.get(connection.vendor)
        dialect = _dialects[alias] = _Dialect(placeholder, conversions)
    return dialect


def _statement(dialect: _Dialect, sql: str) -> _Statement:
    """`sql`, whose only `%` are its placeholders, in both styles."""
    if dialect.placeholder is None:
        return _Statement(sql, None)
    return _Statement(sql, sql.replace("%s", dialect.placeholder))


def _prepared(
    dialect: _Dialect, name: str, value: Any, connection: BaseDatabaseWrapper
) -> Any:
    """`value` as `get_db_prep_save` of the field `name` gives it."""
    conversion = dialect.conversions.get(name)
    if conversion is not None and type(value) in conversion[0]:
        wrap = conversion[1]
        return value if wrap is None or value is None else wrap(value)
    return _BY_NAME[name].get_db_prep_save(value, connection)


def _execute(
    connection: BaseDatabaseWrapper, statement: _Statement, params: list[Any]
) -> int:
    """Run one statement as Django's cursor would; the rows it changed."""
    if (
        statement.driver_sql is None
        or connection.queries_logged
        or connection.execute_wrappers
    ):
        with connection.cursor() as cursor:
            cursor.execute(statement.sql, params)
            return cursor.rowcount
    # The checks of `connection.cursor()` and of its cursor's `execute`.
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    connection.validate_no_broken_transaction()
    with connection.wrap_database_errors:
        cursor = connection.connection.cursor()
        try:
            cursor.execute(statement.driver_sql, params)
            return cursor.rowcount
        finally:
            # As Django's cursor wrapper closes: an error closing is no news.
            driver = connection.Database  # type: ignore[attr-defined]
            with contextlib.suppress(driver.Error):
                cursor.close()


def _insert_for(alias: str) -> _Insert:
    plan = _inserts.get(alias)
    if plan is None:
        connection = connections[alias]
        quote = connection.ops.quote_name
        columns = ", ".join(quote(_COLUMN[field.attname]) for field in _FIELDS)
        marks = ", ".join(["%s"] * len(_FIELDS))
        computed = tuple(
            i
            for i, field in enumerate(_FIELDS)
            if field.has_default() and callable(field.default)  # uuid4, now
        )
        constants = tuple(
            None
            if i in computed
            else field.get_db_prep_save(field.get_default(), connection)
            for i, field in enumerate(_FIELDS)
        )
        sql = f"INSERT INTO {quote(_META.db_table)} ({columns}) VALUES ({marks})"
        statement = _statement(_dialect_for(alias), sql)
        plan = _inserts[alias] = _Insert(statement, constants, computed)
    return plan


def insert_session(values: dict[str, Any]) -> None:
    """Insert a session row: `values` by attribute name (`virtual_key_id`),
    every other column its field's default, as `QuerySet.create` would."""
    alias = _alias()
    connection = connections[alias]
    dialect = _dialect_for(alias)
    plan = _insert_for(alias)
    params = list(plan.constants)
    for i in plan.computed:
        field = _FIELDS[i]
        if field.attname not in values:
            params[i] = field.get_db_prep_save(field.get_default(), connection)
    for name, value in values.items():
        params[_POSITION[name]] = _prepared(dialect, name, value, connection)
    _execute(connection, plan.statement, params)


def _update_for(alias: str, names: tuple[str, ...]) -> _Statement:
    statement = _updates.get((alias, names))
    if statement is None:
        quote = connections[alias].ops.quote_name
        assignments = ", ".join(f"{quote(_COLUMN[name])} = %s" for name in names)
        key, ended, status = (
            quote(_COLUMN[name]) for name in ("id", "ended_at", "status")
        )
        sql = (
            f"UPDATE {quote(_META.db_table)} SET {assignments} "
            f"WHERE {key} = %s AND ({ended} IS NULL OR {status} = %s)"
        )
        if len(_updates) >= _MOST_UPDATES:
            _updates.clear()
        statement = _updates[alias, names] = _statement(_dialect_for(alias), sql)
    return statement


def update_unfinished(session_id: uuid.UUID, values: dict[str, Any]) -> int:
    """Update a row not yet ended (or marked interrupted by a sweep, whose
    session was alive after all): how many rows changed, 0 or 1."""
    alias = _alias()
    connection = connections[alias]
    dialect = _dialect_for(alias)
    statement = _update_for(alias, tuple(values))
    params = [
        _prepared(dialect, name, value, connection) for name, value in values.items()
    ]
    params.append(_BY_NAME["id"].get_db_prep_save(session_id, connection))
    params.append(SessionStatus.INTERRUPTED.value)
    return _execute(connection, statement, params)

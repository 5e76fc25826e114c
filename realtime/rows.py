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
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.db import connections, router
from django.db.models import Field

from realtime.models import RealtimeSession, SessionStatus

_META = RealtimeSession._meta
_FIELDS: tuple[Field, ...] = tuple(_META.local_concrete_fields)
_BY_NAME: dict[str, Field] = {field.attname: field for field in _FIELDS}
_POSITION: dict[str, int] = {field.attname: i for i, field in enumerate(_FIELDS)}
# Every concrete field has a column (the stubs allow None for other fields).
_COLUMN: dict[str, str] = {field.attname: field.column or "" for field in _FIELDS}


@dataclass(frozen=True, slots=True)
class _Insert:
    sql: str
    constants: tuple[Any, ...]  # each column's default, converted
    computed: tuple[int, ...]  # the columns whose default is computed per row


_inserts: dict[str, _Insert] = {}


def _alias() -> str:
    return router.db_for_write(RealtimeSession)


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
        plan = _inserts[alias] = _Insert(sql, constants, computed)
    return plan


def insert_session(values: dict[str, Any]) -> None:
    """Insert a session row: `values` by attribute name (`virtual_key_id`),
    every other column its field's default, as `QuerySet.create` would."""
    alias = _alias()
    connection = connections[alias]
    plan = _insert_for(alias)
    params = list(plan.constants)
    for i in plan.computed:
        field = _FIELDS[i]
        if field.attname not in values:
            params[i] = field.get_db_prep_save(field.get_default(), connection)
    for name, value in values.items():
        params[_POSITION[name]] = _BY_NAME[name].get_db_prep_save(value, connection)
    with connection.cursor() as cursor:
        cursor.execute(plan.sql, params)


def update_unfinished(session_id: uuid.UUID, values: dict[str, Any]) -> int:
    """Update a row not yet ended (or marked interrupted by a sweep, whose
    session was alive after all): how many rows changed, 0 or 1."""
    connection = connections[_alias()]
    quote = connection.ops.quote_name
    fields = [_BY_NAME[name] for name in values]
    assignments = ", ".join(f"{quote(_COLUMN[name])} = %s" for name in values)
    key, ended, status = (quote(_COLUMN[name]) for name in ("id", "ended_at", "status"))
    sql = (
        f"UPDATE {quote(_META.db_table)} SET {assignments} "
        f"WHERE {key} = %s AND ({ended} IS NULL OR {status} = %s)"
    )
    params = [
        field.get_db_prep_save(value, connection)
        for field, value in zip(fields, values.values(), strict=True)
    ]
    params.append(_BY_NAME["id"].get_db_prep_save(session_id, connection))
    params.append(SessionStatus.INTERRUPTED.value)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount

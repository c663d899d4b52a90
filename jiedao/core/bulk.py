"""``insert``: many new rows of one model in one INSERT … RETURNING, for the hot write paths.

It does what ``QuerySet.bulk_create`` does for models without multi-table inheritance, with the
generic per-value steps of Django's insert compiler left out: each value goes through its
field's ``get_db_prep_save`` (so dates, decimals, JSON and foreign keys are adapted exactly as
Django adapts them), the statement text is built once per (model, row count), and the new
primary keys are read back from RETURNING (SQLite ≥ 3.35 and PostgreSQL), paired with their
rows by a unique field where the caller names one. Measured on the intake path
(bench/cases_intake.py): the Case insert took about a third of a group-committed intake's CPU
through ``bulk_create``.

No signals are sent (``bulk_create`` sends none either) and ``save()`` is not called.

The per-value cost is most of an insert's CPU, so fields of Django's own plain types take a
shortcut where the generic path would return the value unchanged (a ``str`` for a text field, an
``int`` for an integer field or a foreign key to an integer key, a ``bool`` for a boolean) or
only adapt it for the backend (an aware ``datetime``); any other field or value goes through
``get_db_prep_save`` as before. ``tests/test_bulk.py`` checks the two paths give equal values.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import lru_cache

from django.db import connections, models, router
from django.db.models import Model


@lru_cache(maxsize=256)
def _statement(model: type[Model], alias: str, rows: int, match: str | None) -> tuple[str, bool, bool]:
    """(SQL, generated key?, columnar?). On PostgreSQL several rows go in as one array per column
    (``INSERT … SELECT * FROM unnest(%s::type[], …)``): the statement then has one placeholder
    per column whatever the row count, so psycopg keeps its parsed form (it re-parses, in Python,
    every statement with more than 50 placeholders — half an intake transaction's CPU when the
    rows went in as ``VALUES (…), (…)``)."""
    meta = model._meta
    connection = connections[alias]
    quote = connection.ops.quote_name
    generated = meta.pk.db_returning  # an auto-increment key the database hands out
    fields = tuple(f for f in meta.concrete_fields if not (f.primary_key and generated))
    returning = quote(meta.pk.column)
    if match:
        returning += ", " + quote(meta.get_field(match).column)
    head = f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
    columnar = connection.vendor == "postgresql" and rows > 1
    if columnar:
        arrays = ", ".join(f"%s::{f.db_type(connection)}[]" for f in fields)
        return f"{head}SELECT * FROM unnest({arrays}) RETURNING {returning}", generated, True
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    return f"{head}VALUES {', '.join([row] * rows)} RETURNING {returning}", generated, False


_TEXT = (models.CharField, models.TextField)
_INTEGER = (models.IntegerField, models.BigIntegerField, models.SmallIntegerField,
            models.PositiveIntegerField, models.PositiveSmallIntegerField, models.PositiveBigIntegerField,
            models.AutoField, models.BigAutoField, models.SmallAutoField)


def _kind(field: models.Field) -> type | None:
    """The Python type whose values this field stores unchanged (exact Django classes only:
    a subclass may override any step), ``datetime`` for a plain DateTimeField, else None."""
    if type(field) is models.ForeignKey:
        return _kind(field.target_field)
    if type(field) in _TEXT:
        return str
    if type(field) in _INTEGER:
        return int
    if type(field) is models.BooleanField:
        return bool
    if type(field) is models.DateTimeField and not (field.auto_now or field.auto_now_add):
        return dt.datetime
    return None


@lru_cache(maxsize=256)
def _plan(model: type[Model], alias: str) -> tuple[tuple[tuple[models.Field, str, type | None], ...],
                                                     tuple[models.Field, ...]]:
    meta = model._meta
    generated = meta.pk.db_returning
    fields = tuple(f for f in meta.concrete_fields if not (f.primary_key and generated))
    relations = tuple(f for f in meta.concrete_fields if f.is_relation)
    return tuple((f, f.attname, _kind(f)) for f in fields), relations


def _values(obj: Model, plan, relations, connection, late: tuple[str, ...] = ()) -> list:
    for relation in relations:  # a related object assigned before it had a key: Django's checks
        if (relation.name not in late and getattr(obj, relation.attname) is None
                and relation.get_cached_value(obj, None) is not None):
            obj._prepare_related_fields_for_save(operation_name="insert")
            break
    adapt = connection.ops.adapt_datetimefield_value
    out = []
    for field, attname, kind in plan:
        value = getattr(obj, attname)
        if value is None and kind is not None:
            out.append(None)  # what each of these fields' own path makes of None
        elif kind is dt.datetime and type(value) is dt.datetime and value.tzinfo is not None:
            out.append(adapt(value))
        elif kind is not None and kind is not dt.datetime and type(value) is kind:
            out.append(value)
        else:
            out.append(field.get_db_prep_save(field.pre_save(obj, True), connection))
    return out


def values(objs: Sequence[Model], *, late: tuple[str, ...] = ()) -> list[list]:
    """Each object's row as ``insert`` would write it now: computed ahead, e.g. before waiting
    for a lock, and handed to ``insert(…, rows=, late=)``. ``late`` names foreign keys whose
    related objects are not saved yet: ``insert`` fills in their keys when it writes the rows."""
    if not objs:
        return []
    model = type(objs[0])
    alias = router.db_for_write(model)
    plan, relations = _plan(model, alias)
    return [_values(obj, plan, relations, connections[alias], late) for obj in objs]


@lru_cache(maxsize=256)
def _late_columns(model: type[Model], alias: str,
                  late: tuple[str, ...]) -> tuple[tuple[models.Field, int], ...]:
    plan, _relations = _plan(model, alias)
    index = {field.name: i for i, (field, _attname, _kind) in enumerate(plan)}
    return tuple((model._meta.get_field(name), index[name]) for name in late)


def _fill_late(obj: Model, row: list, columns, connection) -> None:
    """The keys of ``late`` related objects, saved since the row was computed."""
    for field, i in columns:
        related = field.get_cached_value(obj, None)
        if related is None:
            continue  # none was assigned: the row holds what the object holds
        if related.pk is None:
            raise ValueError(f"{type(obj).__name__}.{field.name}: the related object is still unsaved")
        setattr(obj, field.attname, related.pk)
        row[i] = field.get_db_prep_save(related.pk, connection)


def insert[M: Model](objs: Sequence[M], *, match: str | None = None, batch_size: int = 200,
                     rows: Sequence[list] | None = None, late: tuple[str, ...] = ()) -> list[M]:
    """Insert ``objs`` (all of one model, all new); set their primary keys; return them.

    ``match`` names a field unique among ``objs`` (e.g. ``tracking_code``): the new keys are then
    paired with the rows by it, since neither database promises to return rows in the order
    they were given (SQLite says so outright); without it the order is trusted, as Django's
    ``bulk_create`` trusts it. Models whose key is not generated need no pairing. ``rows``, if
    given, are the objects' rows from ``values`` with the same ``late``."""
    if not objs:
        return list(objs)
    model = type(objs[0])
    alias = router.db_for_write(model)
    connection = connections[alias]
    plan, relations = _plan(model, alias)
    for start in range(0, len(objs), batch_size):
        chunk = objs[start:start + batch_size]
        sql, generated, columnar = _statement(model, alias, len(chunk), match)
        if rows is not None:
            chunk_rows = rows[start:start + batch_size]
            if late:
                columns = _late_columns(model, alias, late)
                for obj, row in zip(chunk, chunk_rows, strict=True):
                    _fill_late(obj, row, columns, connection)
        else:
            chunk_rows = [_values(obj, plan, relations, connection) for obj in chunk]
        if columnar:
            params = [list(column) for column in zip(*chunk_rows, strict=True)]
        else:
            params = [value for row in chunk_rows for value in row]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            returned = cursor.fetchall()
        if generated and match:
            attname = model._meta.get_field(match).attname
            keys = {value: key for key, value in returned}
            for obj in chunk:
                obj.pk = keys[getattr(obj, attname)]
        elif generated:
            for obj, (key, *_rest) in zip(chunk, returned, strict=True):
                obj.pk = key
        for obj in chunk:
            obj._state.adding = False
            obj._state.db = alias
    return list(objs)


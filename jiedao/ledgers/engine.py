"""The one import/export engine every ledger uses; each ledger only declares its columns.

Import is two steps over the same code:

1. :func:`check` reads the sheet (:mod:`jiedao.ledgers.xlsx`), finds the header row (it may
   sit under a merged title row; headers may be renamed — aliases — or missing), parses every
   cell of every row with the ledger's column parsers, finds duplicates inside the file and
   matches each row's natural key (ID number, credit code, …) against the database. It writes
   nothing and returns every problem as (row, column, value, reason), plus a plan: create,
   update or unchanged per row.
2. :func:`apply` writes a plan that has no problems, all or nothing, in one transaction:
   ``bulk_create``/``bulk_update`` in batches of :data:`BATCH`, with one audit event per
   batch summarising it (rows, counts, first and last id) and one for the whole import.

Decisions (docs/readme/ledgers.md): a file with any bad row imports nothing; re-importing
the same file creates nothing new (rows matched by natural key are updated when different,
left alone when equal); a column missing from the file leaves that field of existing records
untouched; a matched record outside the importer's write scope is an error, never updated.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NamedTuple

from django.db import connection, models
from django.utils import timezone
from django.utils.translation import gettext as _

from jiedao.audit.trail import Actor, atomic, record
from jiedao.core.models import OrgUnit

from . import xlsx
from .fields import normalize_text

BATCH = 2000
HEADER_SCAN_ROWS = 10
PREVIEW_ROWS = 20
MAX_ROWS = 200_000


@dataclass
class Column:
    key: str
    header: str
    parse: Callable[[Any, Context], Any] | None = None  # raises ValueError(reason); None: export only
    required: bool = False
    aliases: tuple[str, ...] = ()
    choices: list[str] | None = None  # labels offered as a drop-down in the template
    multiple: bool = False  # several values in one cell (drop-down is then only a hint)
    export: Callable[[Any], Any] | None = None  # record → cell value (masked where personal)
    text: bool = False  # written as text (codes, IDs, phones keep their leading zeros)
    width: int = 14
    note: str = ""
    blank: Any = ""  # the value of an empty cell in an optional column
    masker: Callable[[Any], str] | None = None  # how a parsed value shows in the preview
    reveal: Callable[[Any], Any] | None = None  # record → unmasked value (audited full export)

    @property
    def importable(self) -> bool:
        return self.parse is not None


@dataclass
class RowError:
    row: int
    column: str
    value: str
    reason: str

    def as_list(self) -> list:
        return [self.row, self.column, self.value, self.reason]


@dataclass(slots=True)
class Planned:
    row: int
    values: dict[str, Any]
    existing: models.Model | Current | None = None
    changed: list[str] = field(default_factory=list)

    @property
    def action(self) -> str:
        if self.existing is None:
            return "create"
        return "update" if self.changed else "unchanged"


class Current(NamedTuple):
    """A record matched on re-import, as its stored values (no model instance).

    ``row`` holds :attr:`LedgerSpec.current_fields` in that order, foreign keys as ids;
    ``related`` is what ``related_differs`` compares (e.g. a resident's sorted groups). Rows
    that turn out to differ are loaded as instances and go through ``assign``.
    """

    pk: int
    org_unit_id: int
    row: tuple
    related: Any = None


@dataclass
class Context:
    """What parsers may look things up in: the target unit and the ledger's precomputed maps."""

    unit: Any
    can_write: Callable[[Any], bool]
    lookups: dict[str, Any] = field(default_factory=dict)


@dataclass
class CheckResult:
    ledger: str
    total: int = 0
    errors: list[RowError] = field(default_factory=list)
    plan: list[Planned] = field(default_factory=list)
    present: set[str] = field(default_factory=set)
    header_row: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors

    def count(self, action: str) -> int:
        return sum(1 for p in self.plan if p.action == action)


class LedgerSpec:
    """A ledger as the engine sees it; subclasses fill in the model and the columns."""

    key: str = ""
    label: str = ""
    model: type[models.Model]
    columns: list[Column] = []
    key_columns: tuple[str, ...] = ()  # natural key, by column key
    event_prefix: str = ""
    fast_create: bool = False  # new rows go in by raw_insert (INSERT … RETURNING), not bulk_create
    match_chunk: int = 500  # natural keys per query when matching against the database

    def fast_insert(self, values: list[dict[str, Any]], present: set[str], now) -> list[int]:
        """Insert new rows without model instances; return their ids in order (fast_create)."""
        raise NotImplementedError

    # --- lookups and keys -----------------------------------------------------------------
    def prepare(self, context: Context) -> None:
        """Fill ``context.lookups`` once before the rows are parsed."""

    def natural_key(self, values: dict[str, Any]) -> tuple | None:
        key = tuple(map(values.get, self.key_columns))
        return key if None not in key and "" not in key else None

    def key_label(self) -> str:
        by_key = {c.key: str(c.header) for c in self.columns}
        return "+".join(str(by_key[k]) for k in self.key_columns)

    def find_existing(self, keys: list[tuple]) -> dict[tuple, models.Model]:
        raise NotImplementedError

    def find_current(self, keys: list[tuple]) -> dict[tuple, Current] | None:
        """Optional fast matching: the matched records' stored values without model instances.

        None (the default): the engine loads instances with ``find_existing`` for every match.
        A ledger that implements it returns key → :class:`Current` with ``row`` in
        :attr:`current_fields` order; only rows that :meth:`differs` are then loaded.
        """
        return None

    @cached_property
    def current_fields(self) -> dict[str, int]:
        """Model field name → position in ``Current.row``: the concrete fields a column can set."""
        keys = {c.key for c in self.columns}
        fields = [f for f in self.model._meta.concrete_fields if not f.primary_key and f.name in keys]
        return {f.name: i for i, f in enumerate(fields)}

    def current_columns(self) -> list[str]:
        """What ``find_current`` selects for ``Current.row`` (attnames, in that order)."""
        return [self.model._meta.get_field(name).attname for name in self.current_fields]

    def differs(self, current: Current, values: dict[str, Any], present: set[str]) -> bool:
        """Would :meth:`assign` find a change? The same comparison, on stored values."""
        row, index = current.row, self.current_fields
        for name, value in self.field_values(values, present).items():
            at = index.get(name)
            if at is None:  # a field no column names (derived): let assign decide on the instance
                return True
            new = value.pk if isinstance(value, models.Model) else value
            if row[at] != new:
                return True
        return self.related_differs(current, values, present)

    def related_differs(self, current: Current, values: dict[str, Any], present: set[str]) -> bool:
        return False

    def assign(self, obj: models.Model, values: dict[str, Any], present: set[str]) -> list[str]:
        """Set the present columns' fields on ``obj``; return the names of those that changed."""
        changed = []
        for name, value in self.field_values(values, present).items():
            current = getattr(obj, name + "_id") if _is_fk(obj, name) else getattr(obj, name)
            new = value.pk if isinstance(value, models.Model) else value
            if current != new:
                setattr(obj, name, value)
                changed.append(name)
        changed += self.related_changes(obj, values, present)
        return changed

    @cached_property
    def model_field_names(self) -> frozenset[str]:
        return frozenset(f.name for f in self.model._meta.get_fields())

    def field_values(self, values: dict[str, Any], present: set[str]) -> dict[str, Any]:
        """Model field → value for the columns present in the file (override to derive fields)."""
        names = self.model_field_names
        return {k: v for k, v in values.items() if k in present and k in names}

    def related_changes(self, obj, values, present) -> list[str]:
        return []

    def row_problems(
        self, values: dict[str, Any], present: set[str], context: Context
    ) -> list[tuple[str, Any, str]]:
        """Rules across columns of one row: ``[(column header, value, reason)]``."""
        return []

    def new(self, values: dict[str, Any], present: set[str]) -> models.Model:
        obj = self.model()
        for name, value in self.field_values(values, present | {"org_unit"}).items():
            setattr(obj, name, value)
        return obj

    def write_related(
        self, pairs: list[tuple[models.Model, dict[str, Any]]], present: set[str], created: bool
    ) -> None:
        """Rows in other tables that belong to just-written records (groups, milestones …)."""

    def update_fields(self, plan: list[Planned]) -> list[str]:
        names = {f.name for f in self.model._meta.concrete_fields}
        return sorted({c for p in plan for c in p.changed if c in names} | {"updated_at"})

    # --- export ---------------------------------------------------------------------------
    def export_columns(self) -> list[Column]:
        return [c for c in self.columns if c.export is not None]

    def export_queryset(self, queryset):
        return queryset

    def template_columns(self) -> list[Column]:
        return [c for c in self.columns if c.importable]


def _is_fk(obj: models.Model, name: str) -> bool:
    try:
        return obj._meta.get_field(name).many_to_one
    except Exception:
        return False


def _memo(func):
    cache: dict = {}

    def adapt(value):
        if value not in cache:
            cache[value] = func(value)
        return cache[value]

    return adapt


_MISSING = object()


def raw_insert(
    model: type[models.Model],
    rows: list[dict[str, Any]] | None = None,
    *,
    columns: dict[str, list] | None = None,
    returning: str = "",
):
    """INSERT many rows given as {attname: value} (or as ``columns``: attname → values), without
    model instances.

    ``bulk_create`` spends most of its time compiling SQL per value and building model
    instances (about 60 % of a 100,000-row import, measured); the rows here are already
    validated, so only the database adaptation of dates, datetimes and decimals remains.
    Missing attributes take the field's default. Values are gathered column by column.

    ``returning``: an attname unique among the rows (the natural key, e.g. ``id_number``): the
    new primary keys are returned in row order, read from multi-row ``INSERT … RETURNING pk,
    that column`` and matched by it, so the order RETURNING gives rows in does not matter.
    None when the database cannot return rows (then, and without ``returning``, the rows go
    in by one executemany).
    """
    if columns is None:
        rows = rows or []
        first = rows[0].keys() if rows else set()
        if all(row.keys() == first for row in rows):
            columns = {name: [row[name] for row in rows] for name in first}
        else:
            names = {name for row in rows for name in row}
            columns = {name: [row.get(name, _MISSING) for row in rows] for name in names}
    count = len(next(iter(columns.values()))) if columns else 0
    if not count:
        return []
    ops = connection.ops
    model_fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    given = columns
    columns = []
    for model_field in model_fields:
        name, internal = model_field.attname, model_field.get_internal_type()
        if internal == "DateTimeField":
            adapt = _memo(ops.adapt_datetimefield_value)
        elif internal == "DateField":
            adapt = ops.adapt_datefield_value
        elif internal == "DecimalField":
            adapt = lambda v, f=model_field: ops.adapt_decimalfield_value(v, f.max_digits, f.decimal_places)  # noqa: E731
        else:
            adapt = None
        column = given.get(name)
        if column is None:
            default = model_field.get_default()
            columns.append([adapt(default) if adapt is not None and default is not None else default] * count)
            continue
        if _MISSING in column:
            default = model_field.get_default()
            column = [default if v is _MISSING else v for v in column]
        if adapt is not None:
            column = [adapt(v) if v is not None else v for v in column]
        columns.append(column)
    table = ops.quote_name(model._meta.db_table)
    names = ", ".join(ops.quote_name(f.column) for f in model_fields)
    types = [f.db_type(connection) for f in model_fields]
    if connection.vendor == "postgresql" and all(types):
        # One array per column: the statement stays short whatever the row count (psycopg
        # would otherwise split a 22,000-placeholder query in Python, and executemany sends
        # row by row).
        arrays = ", ".join(f"%s::{t}[]" for t in types)
        sql = f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays})"
        if returning:
            key_column = next(f.column for f in model_fields if f.attname == returning)
            sql += f" RETURNING {ops.quote_name(model._meta.pk.column)}, {ops.quote_name(key_column)}"
        ids: dict[Any, int] = {}
        with connection.cursor() as cursor:
            for start in range(0, count, BATCH):
                cursor.execute(sql, [column[start : start + BATCH] for column in columns])
                if returning:
                    ids.update((key, pk) for pk, key in cursor.fetchall())
        return _in_row_order(ids, given[returning], count) if returning else None
    params = list(zip(*columns, strict=True))
    head = f"INSERT INTO {table} ({names}) VALUES "
    if not (returning and connection.features.can_return_rows_from_bulk_insert):
        with connection.cursor() as cursor:
            cursor.executemany(head + f"({', '.join(['%s'] * len(model_fields))})", params)
        return None
    key_column = next(f.column for f in model_fields if f.attname == returning)
    keys = given[returning]
    returned = f" RETURNING {ops.quote_name(model._meta.pk.column)}, {ops.quote_name(key_column)}"
    step = max(1, min(ops.bulk_batch_size(model_fields, params), BATCH))
    one = f"({', '.join(['%s'] * len(model_fields))})"
    ids: dict[Any, int] = {}
    with connection.cursor() as cursor:
        for start in range(0, count, step):
            chunk = params[start : start + step]
            cursor.execute(head + ", ".join([one] * len(chunk)) + returned, [v for row in chunk for v in row])
            ids.update((key, pk) for pk, key in cursor.fetchall())
    return _in_row_order(ids, keys, count)


def _in_row_order(ids: dict[Any, int], keys: list, count: int) -> list[int]:
    if len(ids) != count or len(set(keys)) != count:  # never expected: refuse rather than mislabel rows
        raise RuntimeError(f"INSERT RETURNING gave {len(ids)} keys for {count} rows")
    return [ids[key] for key in keys]


# --- headers ----------------------------------------------------------------------------------

_HEADER_NOISE = re.compile(r"[\s*＊:：()()（）\[\]【】]|必填|选填")


def _header_key(text: Any) -> str:
    from .fields import halfwidth

    return _HEADER_NOISE.sub("", halfwidth(normalize_text(text))).lower()


def _header_variants(column: Column) -> set[str]:
    return {_header_key(str(column.header)), *(_header_key(a) for a in column.aliases)}


def match_header(spec: LedgerSpec, rows: list[xlsx.SheetRow]) -> tuple[int, dict[int, Column], list[str]]:
    """(index into ``rows`` of the header, column index → Column, unknown headers)."""
    importable = spec.template_columns()
    variants = {}
    for column in importable:
        for variant in _header_variants(column):
            variants[variant] = column
    best, best_map, best_unknown = -1, {}, []
    for i, row in enumerate(rows[:HEADER_SCAN_ROWS]):
        mapping, unknown = {}, []
        for index, value in enumerate(row.values):
            if value in (None, ""):
                continue
            column = variants.get(_header_key(value))
            if column is not None and column not in mapping.values():
                mapping[index] = column
            else:
                unknown.append(str(value))
        if len(mapping) > len(best_map):
            best, best_map, best_unknown = i, mapping, unknown
    return best, best_map, best_unknown


# --- check --------------------------------------------------------------------------------------


def _display(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)[:200]


@contextmanager
def _gc_paused():
    """Hold the cyclic garbage collector during a bulk step.

    A 100,000-row check allocates a few million small objects that live to the end (rows,
    values, plans) and form no cycles; the collector kept re-walking them — a fifth to a
    quarter of the check's CPU time, measured. Reference counting still frees everything
    else; the collector resumes (if it was on) when the step ends.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def check(
    spec: LedgerSpec, data: bytes, context: Context, progress: Callable[[int, int], None] | None = None
) -> CheckResult:
    """Read and validate the whole file; write nothing. Every problem is in ``result.errors``."""
    with _gc_paused():
        return _check(spec, data, context, progress)


def _check(spec: LedgerSpec, data: bytes, context: Context, progress) -> CheckResult:
    result = CheckResult(ledger=spec.key)
    try:
        rows_iter = xlsx.read_rows(data)
        head: list[xlsx.SheetRow] = []
        for row in rows_iter:
            head.append(row)
            if len(head) >= HEADER_SCAN_ROWS:
                break
    except xlsx.XlsxError as error:
        result.errors.append(RowError(0, _("文件"), "", error.message))
        return result
    header_index, mapping, _unknown = match_header(spec, head)
    if header_index < 0:
        result.errors.append(
            RowError(
                0,
                _("表头"),
                "",
                _("找不到表头:前 %(n)s 行中没有“%(h)s”等列名,请使用下载的模板")
                % {"n": HEADER_SCAN_ROWS, "h": "”“".join(str(c.header) for c in spec.template_columns()[:3])},
            )
        )
        return result
    header_row = head[header_index].number
    result.header_row = header_row
    result.present = {c.key for c in mapping.values()}
    for column in spec.template_columns():
        if column.required and column.key not in result.present:
            result.errors.append(
                RowError(
                    header_row,
                    str(column.header),
                    "",
                    _("缺少必填列“%(h)s”(可用列名:%(a)s)")
                    % {"h": str(column.header), "a": "、".join((str(column.header), *column.aliases))},
                )
            )
    if result.errors:
        return result

    spec.prepare(context)
    readers = [_CellReader(index, column) for index, column in sorted(mapping.items())]
    seen: dict[tuple, int] = {}
    parsed: list[Planned] = []
    plan_keys: list[tuple | None] = []
    errors = result.errors
    present = result.present
    unit = context.unit
    natural_key, row_problems = spec.natural_key, spec.row_problems

    def rows() -> Iterable[xlsx.SheetRow]:
        yield from head[header_index + 1 :]
        yield from rows_iter

    try:
        for row in rows():
            values = row.values
            for v in values:  # blank rows between blocks are not data
                if v is not None and (not isinstance(v, str) or (v and not v.isspace())):
                    break
            else:
                continue
            result.total += 1
            if result.total > MAX_ROWS:
                errors.append(
                    RowError(
                        row.number, _("文件"), "", _("行数超过上限 %(n)s 行,请拆分文件") % {"n": MAX_ROWS}
                    )
                )
                break
            clean: dict[str, Any] = {"org_unit": unit}
            row_ok = True
            size = len(values)
            for cell in readers:
                index = cell.index
                raw = values[index] if index < size else None
                if raw is None or (isinstance(raw, str) and (not raw or raw.isspace())):
                    if cell.required:
                        errors.append(RowError(row.number, cell.header, "", _("必填,不能为空")))
                        row_ok = False
                    elif cell.key != "org_unit":
                        clean[cell.key] = cell.blank
                    continue
                memo = cell.memo
                if memo is not None and raw.__class__ is str:
                    outcome = memo.get(raw)
                    if outcome is None:
                        outcome = cell.parse(raw, context)
                        if len(memo) < MEMO_LIMIT:
                            memo[raw] = outcome
                        else:  # mostly distinct values (names, ID numbers): stop remembering
                            cell.memo = None
                    value, reason = outcome
                else:
                    try:
                        value, reason = cell.parse_raw(raw, context), None
                    except ValueError as error:
                        value, reason = None, str(error)
                if reason is not None:
                    errors.append(RowError(row.number, cell.header, _display(raw), reason))
                    row_ok = False
                else:
                    clean[cell.key] = value.copy() if value.__class__ is list else value
            if not row_ok:
                continue
            for problem in row_problems(clean, present, context):
                errors.append(RowError(row.number, problem[0], _display(problem[1]), problem[2]))
                row_ok = False
            if not row_ok:
                continue
            key = natural_key(clean)
            if key is not None:
                first = seen.get(key)
                if first is not None:
                    errors.append(
                        RowError(
                            row.number,
                            spec.key_label(),
                            " ".join(map(_display, key)),
                            _("与文件第 %(r)s 行重复") % {"r": first},
                        )
                    )
                    continue
                seen[key] = row.number
            parsed.append(Planned(row.number, clean))
            plan_keys.append(key)
            if progress is not None and result.total % 1000 == 0:
                progress(result.total, 0)
    except xlsx.XlsxError as error:
        errors.append(RowError(0, _("文件"), "", error.message))
        return result

    if result.total == 0 and not errors:
        errors.append(RowError(header_row, _("文件"), "", _("表头下没有数据行")))
    _match(spec, parsed, plan_keys, context, present, errors)
    errors.sort(key=lambda e: (e.row, e.column))
    result.plan = parsed
    if progress is not None:
        progress(result.total, result.total)
    return result


MEMO_LIMIT = 2048  # distinct values remembered per column (groups, units, choices repeat)


class _CellReader:
    """One column of the file as the check loop reads it; ``parse`` → (value, reason or None).

    Parsers are pure for the length of a check (their lookups are filled once), so a column's
    outcome for a text seen before is reused: the same value (lists copied) or the same reason.
    """

    __slots__ = ("index", "key", "header", "required", "blank", "memo", "parse_raw")

    def __init__(self, index: int, column: Column):
        self.index, self.key, self.required, self.blank = index, column.key, column.required, column.blank
        self.header = str(column.header)
        self.parse_raw = column.parse
        self.memo: dict[str, tuple[Any, str | None]] | None = {}

    def parse(self, raw: Any, context: Context) -> tuple[Any, str | None]:
        try:
            return self.parse_raw(raw, context), None
        except ValueError as error:
            return None, str(error)


def _match(
    spec: LedgerSpec,
    parsed: list[Planned],
    plan_keys: list[tuple | None],
    context: Context,
    present: set[str],
    errors: list[RowError],
) -> None:
    """Against the database: plan each parsed row as create, update or unchanged."""
    keys = [k for k in plan_keys if k is not None]
    chunk = spec.match_chunk
    current: dict[tuple, Current] | None = {}
    for start in range(0, len(keys), chunk):
        found = spec.find_current(keys[start : start + chunk])
        if found is None:
            current = None
            break
        current.update(found)
    if current is None:  # the ledger has no light matching: instances for every match
        existing: dict[tuple, models.Model] = {}
        for start in range(0, len(keys), chunk):
            existing.update(spec.find_existing(keys[start : start + chunk]))
        matched = [(p, k, existing.get(k)) for p, k in zip(parsed, plan_keys, strict=True) if k in existing]
        _assign_matched(spec, matched, context, present, errors)
        return
    if not current:
        return
    units = OrgUnit.objects.in_bulk({c.org_unit_id for c in current.values()})
    writable: dict[int, bool] = {}
    differing: list[tuple[Planned, tuple]] = []
    for planned, key in zip(parsed, plan_keys, strict=True):
        found = current.get(key) if key is not None else None
        if found is None:
            continue
        unit = units[found.org_unit_id]
        allowed = writable.get(unit.pk)
        if allowed is None:
            allowed = writable[unit.pk] = bool(context.can_write(unit))
        if not allowed:
            errors.append(_outside_scope(spec, planned, key, unit))
        elif spec.differs(found, planned.values, present):
            differing.append((planned, key))
        else:
            planned.existing = found  # unchanged: nothing to load
    existing = {}
    for start in range(0, len(differing), chunk):
        existing.update(spec.find_existing([k for _p, k in differing[start : start + chunk]]))
    # A record archived since the first query is no longer there: the row becomes a create.
    matched = [(p, k, existing[k]) for p, k in differing if k in existing]
    _assign_matched(spec, matched, context, present, errors)


def _outside_scope(spec: LedgerSpec, planned: Planned, key: tuple, unit) -> RowError:
    return RowError(
        planned.row,
        spec.key_label(),
        " ".join(map(_display, key)),
        _("已在其他单位(%(u)s)登记,不在您的权限范围内,不能导入") % {"u": unit.name},
    )


def _assign_matched(spec, matched, context: Context, present: set[str], errors: list[RowError]) -> None:
    for planned, key, obj in matched:
        if not context.can_write(obj.org_unit):
            errors.append(_outside_scope(spec, planned, key, obj.org_unit))
            continue
        planned.existing = obj
        planned.changed = spec.assign(obj, planned.values, present)


# --- apply --------------------------------------------------------------------------------------


def apply(
    spec: LedgerSpec,
    result: CheckResult,
    *,
    by: Actor,
    unit,
    filename: str = "",
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, int]:
    """Write a checked plan, all or nothing; one audit event per batch and one per import."""
    if not result.ok:
        raise ValueError("a plan with errors cannot be applied")
    creates = [p for p in result.plan if p.action == "create"]
    updates = [p for p in result.plan if p.action == "update"]
    counts = {
        "created": len(creates),
        "updated": len(updates),
        "unchanged": sum(1 for p in result.plan if p.action == "unchanged"),
        "total": result.total,
    }
    done = 0
    target_type = spec.model._meta.label_lower
    with _gc_paused(), atomic():
        for start in range(0, len(creates), BATCH):
            batch = creates[start : start + BATCH]
            now = timezone.now()
            if spec.fast_create:
                ids = spec.fast_insert([p.values for p in batch], result.present, now)
            else:
                objs = [spec.new(p.values, result.present) for p in batch]
                for obj in objs:
                    obj.created_at = obj.updated_at = now
                spec.model.objects.bulk_create(objs)
                spec.write_related(
                    [(o, p.values) for o, p in zip(objs, batch, strict=True)], result.present, True
                )
                ids = [o.pk for o in objs]
            record(
                by=by,
                event_type=f"{spec.event_prefix}_import_batch",
                target_type=target_type,
                target_label=filename[:200],
                org_unit=unit,
                changes={
                    "action": "create",
                    "rows": [batch[0].row, batch[-1].row],
                    "count": len(ids),
                    "ids": ids,
                },
            )
            done += len(batch)
            if progress is not None:
                progress(done, len(creates) + len(updates))
        fields = spec.update_fields(updates)
        for start in range(0, len(updates), BATCH):
            batch = updates[start : start + BATCH]
            objs = [p.existing for p in batch]
            now = timezone.now()
            for obj in objs:
                obj.updated_at = now
            spec.model.objects.bulk_update(objs, fields)
            spec.write_related([(p.existing, p.values) for p in batch], result.present, False)
            record(
                by=by,
                event_type=f"{spec.event_prefix}_import_batch",
                target_type=target_type,
                target_label=filename[:200],
                org_unit=unit,
                changes={
                    "action": "update",
                    "rows": [batch[0].row, batch[-1].row],
                    "count": len(objs),
                    "ids": [o.pk for o in objs],
                    "fields": sorted({c for p in batch for c in p.changed}),
                },
            )
            done += len(batch)
            if progress is not None:
                progress(done, len(creates) + len(updates))
        record(
            by=by,
            event_type=f"{spec.event_prefix}_import",
            target_type=target_type,
            target_label=filename[:200],
            org_unit=unit,
            changes=counts,
            detail=_("导入“%(f)s”:新增 %(c)s,更新 %(u)s,未变 %(n)s")
            % {"f": filename, "c": counts["created"], "u": counts["updated"], "n": counts["unchanged"]},
        )
    return counts


# --- preview, reports, templates, exports ----------------------------------------------------------


def preview(spec: LedgerSpec, result: CheckResult, limit: int = PREVIEW_ROWS) -> list[dict]:
    """The first rows as the page shows them: action and masked display values."""
    columns = [c for c in spec.template_columns() if c.key in result.present]
    out = []
    for planned in result.plan[:limit]:
        cells = []
        for column in columns:
            value = planned.values.get(column.key)
            shown = column.masker(value) if column.masker else _show(value)
            cells.append(shown)
        out.append({"row": planned.row, "action": planned.action, "cells": cells})
    return out


def preview_headers(spec: LedgerSpec, result: CheckResult) -> list[str]:
    return [str(c.header) for c in spec.template_columns() if c.key in result.present]


def _show(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return _("是") if value else _("否")
    if isinstance(value, list):
        return "、".join(map(str, value))
    return str(value)


ERROR_HEADERS = ["行号", "列", "值", "原因"]


def error_report(errors: Iterable[RowError | list]) -> bytes:
    rows = [e.as_list() if isinstance(e, RowError) else list(e) for e in errors]
    return xlsx.write_table(
        _("导入错误"), [_(h) for h in ERROR_HEADERS], rows, text_columns=[2], widths=[8, 22, 28, 70]
    )


def template(spec: LedgerSpec) -> bytes:
    """An empty sheet with Chinese headers, a title row, drop-downs for fixed values, text columns."""
    from openpyxl import Workbook
    from openpyxl.comments import Comment
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = str(spec.label)[:31]
    columns = spec.template_columns()
    last = get_column_letter(len(columns))
    sheet.merge_cells(f"A1:{last}1")
    sheet["A1"] = _("%(l)s导入模板(带 * 的列必填;请勿修改第 2 行列名)") % {"l": spec.label}
    sheet["A1"].font = Font(bold=True, size=13)
    sheet["A1"].alignment = Alignment(horizontal="center")
    required_fill, fill = PatternFill("solid", fgColor="F6D8CE"), PatternFill("solid", fgColor="DDE7F0")
    lists = workbook.create_sheet(_("可选值"))
    list_col = 0
    for i, column in enumerate(columns, start=1):
        letter = get_column_letter(i)
        cell = sheet.cell(row=2, column=i, value=str(column.header) + ("*" if column.required else ""))
        cell.font = Font(bold=True)
        cell.fill = required_fill if column.required else fill
        if column.note:
            cell.comment = Comment(column.note, "jiedao")
        sheet.column_dimensions[letter].width = column.width
        if column.text:
            for row in range(3, 1003):
                sheet.cell(row=row, column=i).number_format = "@"
        if column.choices:
            list_col += 1
            list_letter = get_column_letter(list_col)
            lists.cell(row=1, column=list_col, value=str(column.header))
            for j, label in enumerate(column.choices, start=2):
                lists.cell(row=j, column=list_col, value=str(label))
            source = f"'{lists.title}'!${list_letter}$2:${list_letter}${len(column.choices) + 1}"
            validation = DataValidation(
                type="list", formula1=source, allow_blank=True, showErrorMessage=not column.multiple
            )
            validation.error = _("请从下拉列表中选择")
            validation.prompt = _("可多选,用“、”分隔") if column.multiple else _("请从下拉列表中选择")
            validation.showInputMessage = True
            sheet.add_data_validation(validation)
            validation.add(f"{letter}3:{letter}1002")
    sheet.freeze_panes = "A3"
    return xlsx.workbook_bytes(workbook)


def export(spec: LedgerSpec, queryset, *, reveal: bool = False) -> bytes:
    """The records as a sheet with the ledger's columns; personal values masked unless ``reveal``."""
    columns = spec.export_columns()
    queryset = spec.export_queryset(queryset)

    def rows():
        for obj in queryset.iterator(chunk_size=2000):
            out = []
            for column in columns:
                if reveal and column.reveal is not None:
                    out.append(column.reveal(obj))
                else:
                    out.append(column.export(obj))
            yield out

    text = [i for i, c in enumerate(columns) if c.text]
    return xlsx.write_table(
        str(spec.label),
        [str(c.header) for c in columns],
        rows(),
        text_columns=text,
        widths=[c.width for c in columns],
    )

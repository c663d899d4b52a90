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

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, models
from django.utils import timezone
from django.utils.translation import gettext as _

from jiedao.audit.trail import Actor, atomic, record

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


@dataclass
class Planned:
    row: int
    values: dict[str, Any]
    existing: models.Model | None = None
    changed: list[str] = field(default_factory=list)

    @property
    def action(self) -> str:
        if self.existing is None:
            return "create"
        return "update" if self.changed else "unchanged"


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
    fast_create: bool = False  # new rows go in by raw executemany (see raw_insert), not bulk_create

    def fast_insert(self, values: list[dict[str, Any]], present: set[str], now) -> list[int]:
        """Insert new rows without model instances; return their ids in order (fast_create)."""
        raise NotImplementedError

    # --- lookups and keys -----------------------------------------------------------------
    def prepare(self, context: Context) -> None:
        """Fill ``context.lookups`` once before the rows are parsed."""

    def natural_key(self, values: dict[str, Any]) -> tuple | None:
        key = tuple(values.get(k) for k in self.key_columns)
        return key if all(v not in (None, "") for v in key) else None

    def key_label(self) -> str:
        by_key = {c.key: str(c.header) for c in self.columns}
        return "+".join(str(by_key[k]) for k in self.key_columns)

    def find_existing(self, keys: list[tuple]) -> dict[tuple, models.Model]:
        raise NotImplementedError

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

    def field_values(self, values: dict[str, Any], present: set[str]) -> dict[str, Any]:
        """Model field → value for the columns present in the file (override to derive fields)."""
        names = {f.name for f in self.model._meta.get_fields()}
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


def raw_insert(model: type[models.Model], rows: list[dict[str, Any]]) -> None:
    """INSERT many rows given as {attname: value}, with one executemany.

    ``bulk_create`` spends most of its time compiling SQL per value and building model
    instances (about 60 % of a 100,000-row import, measured); the rows here are already
    validated, so only the database adaptation of dates, datetimes and decimals remains.
    Missing attributes take the field's default.
    """
    ops = connection.ops
    model_fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    adapters = []
    for model_field in model_fields:
        internal = model_field.get_internal_type()
        if internal == "DateTimeField":
            adapters.append(_memo(ops.adapt_datetimefield_value))
        elif internal == "DateField":
            adapters.append(ops.adapt_datefield_value)
        elif internal == "DecimalField":
            adapters.append(
                lambda v, f=model_field: ops.adapt_decimalfield_value(v, f.max_digits, f.decimal_places)
            )
        else:
            adapters.append(None)
    defaults = [f.get_default() for f in model_fields]
    names = [f.attname for f in model_fields]
    table = ops.quote_name(model._meta.db_table)
    columns = ", ".join(ops.quote_name(f.column) for f in model_fields)
    sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(model_fields))})"
    params = []
    for row in rows:
        out = []
        for name, adapt, default in zip(names, adapters, defaults, strict=True):
            value = row.get(name, default)
            out.append(adapt(value) if adapt is not None and value is not None else value)
        params.append(out)
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


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


def check(
    spec: LedgerSpec, data: bytes, context: Context, progress: Callable[[int, int], None] | None = None
) -> CheckResult:
    """Read and validate the whole file; write nothing. Every problem is in ``result.errors``."""
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
    items = sorted(mapping.items())
    seen: dict[tuple, int] = {}
    parsed: list[Planned] = []
    errors = result.errors

    def rows() -> Iterable[xlsx.SheetRow]:
        yield from head[header_index + 1 :]
        yield from rows_iter

    try:
        for row in rows():
            values = row.values
            if not any(v not in (None, "") and (not isinstance(v, str) or v.strip()) for v in values):
                continue  # blank rows between blocks are not data
            result.total += 1
            if result.total > MAX_ROWS:
                errors.append(
                    RowError(
                        row.number, _("文件"), "", _("行数超过上限 %(n)s 行,请拆分文件") % {"n": MAX_ROWS}
                    )
                )
                break
            clean: dict[str, Any] = {"org_unit": context.unit}
            row_ok = True
            for index, column in items:
                raw = values[index] if index < len(values) else None
                if raw is None or (isinstance(raw, str) and not raw.strip()):
                    if column.required:
                        errors.append(RowError(row.number, str(column.header), "", _("必填,不能为空")))
                        row_ok = False
                        continue
                    if column.key != "org_unit":
                        clean[column.key] = column.blank
                    continue
                try:
                    clean[column.key] = column.parse(raw, context)
                except ValueError as error:
                    errors.append(RowError(row.number, str(column.header), _display(raw), str(error)))
                    row_ok = False
            if not row_ok:
                continue
            for problem in spec.row_problems(clean, result.present, context):
                errors.append(RowError(row.number, problem[0], _display(problem[1]), problem[2]))
                row_ok = False
            if not row_ok:
                continue
            key = spec.natural_key(clean)
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
            if progress is not None and result.total % 1000 == 0:
                progress(result.total, 0)
    except xlsx.XlsxError as error:
        errors.append(RowError(0, _("文件"), "", error.message))
        return result

    if result.total == 0 and not errors:
        errors.append(RowError(header_row, _("文件"), "", _("表头下没有数据行")))
    # Against the database: one query per chunk of keys.
    keys = [k for k in (spec.natural_key(p.values) for p in parsed) if k is not None]
    existing: dict[tuple, models.Model] = {}
    for start in range(0, len(keys), 500):
        existing.update(spec.find_existing(keys[start : start + 500]))
    for planned in parsed:
        key = spec.natural_key(planned.values)
        obj = existing.get(key) if key is not None else None
        if obj is not None:
            if not context.can_write(obj.org_unit):
                errors.append(
                    RowError(
                        planned.row,
                        spec.key_label(),
                        " ".join(map(_display, key)),
                        _("已在其他单位(%(u)s)登记,不在您的权限范围内,不能导入") % {"u": obj.org_unit.name},
                    )
                )
                continue
            planned.existing = obj
            planned.changed = spec.assign(obj, planned.values, result.present)
    errors.sort(key=lambda e: (e.row, e.column))
    result.plan = parsed
    if progress is not None:
        progress(result.total, result.total)
    return result


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
    with atomic():
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

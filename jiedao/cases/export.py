"""The filtered case list as an .xlsx workbook with every lifecycle timestamp.

openpyxl's write-only mode streams rows to a temporary file and the database is read in
chunks, so memory stays flat. Personal data is masked (name 张*, phone 138****8000): an export
leaves the system, and revealing is a per-case, audited action on the detail page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import IO

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

from jiedao.core.masking import mask_name, mask_phone

from .models import Case

EXPORT_LIMIT = 100_000
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TIME_FORMAT = "yyyy-mm-dd hh:mm"

# (header, width, value of a case)
COLUMNS: list[tuple[str, int, object]] = [
    ("查询码", 13, lambda c, now: c.tracking_code),
    ("类型", 10, lambda c, now: c.get_kind_display()),
    ("分类", 22, lambda c, now: str(c.category)),
    ("来源", 10, lambda c, now: c.get_channel_display()),
    ("标题", 30, lambda c, now: c.title),
    ("紧急程度", 8, lambda c, now: c.get_priority_display()),
    ("社区/网格", 16, lambda c, now: c.org_unit.name),
    ("地址", 26, lambda c, now: c.address),
    ("诉求人", 8, lambda c, now: mask_name(c.requester_name)),
    ("联系电话", 14, lambda c, now: mask_phone(c.requester_phone)),
    ("承办单位", 14, lambda c, now: c.handler_unit.name if c.handler_unit else ""),
    ("承办人", 14, lambda c, now: (c.handler.full_name or c.handler.username) if c.handler else ""),
    ("包案领导", 10, lambda c, now: (c.owner.full_name or c.owner.username) if c.owner else ""),
    ("状态", 8, lambda c, now: c.get_status_display()),
    ("受理", 17, lambda c, now: c.created_at),
    ("首次派单", 17, lambda c, now: c.dispatched_at),
    ("首次签收", 17, lambda c, now: c.accepted_at),
    ("办结", 17, lambda c, now: c.resolved_at),
    ("回访", 17, lambda c, now: c.reviewed_at),
    ("归档", 17, lambda c, now: c.closed_at),
    ("期限", 17, lambda c, now: c.deadline_at),
    ("是否超期", 8, lambda c, now: _overdue(c, now)),
    ("结果", 10, lambda c, now: c.get_outcome_display() if c.outcome else ""),
    ("满意度", 8, lambda c, now: "" if c.satisfied is None else ("满意" if c.satisfied else "不满意")),
    ("评分", 6, lambda c, now: c.rating),
    ("重办次数", 8, lambda c, now: c.reopen_count),
    ("督办", 17, lambda c, now: c.supervised_at),
]
HEADERS = [name for name, _w, _v in COLUMNS]


def _overdue(case: Case, now: datetime) -> str:
    """Overdue: still open past the deadline, or finished after it (a case sent back for 重办
    is open again: its earlier resolution does not answer)."""
    if case.is_open:
        return "是" if case.is_overdue(now) else "否"
    if case.resolved_at is not None:
        return "是" if case.resolved_at > case.deadline_at else "否"
    if case.closed_at is not None:
        return "否"
    return "是" if case.is_overdue(now) else "否"


@dataclass(frozen=True)
class ExportResult:
    rows: int
    truncated: bool


def export_filename(now: datetime | None = None) -> str:
    return f"工单-{timezone.localtime(now or timezone.now()):%Y%m%d-%H%M}.xlsx"


def _cell(sheet, value):
    if isinstance(value, datetime):
        cell = WriteOnlyCell(sheet, value=timezone.localtime(value).replace(tzinfo=None))
        cell.number_format = TIME_FORMAT
        return cell
    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
    return WriteOnlyCell(sheet, value=value)


def write_cases_xlsx(queryset: QuerySet[Case], out: IO[bytes], *, now: datetime | None = None,
                     limit: int = EXPORT_LIMIT) -> ExportResult:
    now = now or timezone.now()
    book = Workbook(write_only=True)
    sheet = book.create_sheet(_("工单"))
    for i, (_h, width, _v) in enumerate(COLUMNS, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = width
    sheet.freeze_panes = "B2"
    bold, fill = Font(bold=True), PatternFill("solid", fgColor="E8EFF9")
    header = []
    for name in HEADERS:
        cell = WriteOnlyCell(sheet, value=name)
        cell.font, cell.fill = bold, fill
        header.append(cell)
    sheet.append(header)
    rows = 0
    truncated = False
    for case in queryset[:limit + 1].iterator(chunk_size=2000):
        if rows == limit:
            truncated = True
            break
        sheet.append([_cell(sheet, value(case, now)) for _h, _w, value in COLUMNS])
        rows += 1
    book.save(out)
    return ExportResult(rows=rows, truncated=truncated)

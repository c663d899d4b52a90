"""Spreadsheets in and out: the tally sheet and the district statistics sheet.

Reading checks every row first and collects every problem, each naming its row, column and
rule; only a clean sheet reaches the service (which then writes all rows in one transaction).
The template is the export's own layout, so an export can be edited and imported again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from io import BytesIO
from typing import IO

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from jiedao.accounts.access import has_cap, units_in_scope
from jiedao.accounts.roles import Cap
from jiedao.core.models import OrgUnit, OrgUnitKind

from . import indicators as ind
from .models import ActivityType, Indicator
from .services import IndicatorRow, TallyRow

MAX_ROWS = 20000

TALLY_HEADERS = ["日期", "单位", "工作类型", "数量", "计量单位", "备注"]
INDICATOR_HEADERS = ["指标", "计量单位", "街道", "年度", "月份", "年度目标", "累计完成"]


class SheetError(ValidationError):
    """All the problems of one sheet, one message per problem."""


def _book(headers: list[str], title: str) -> tuple[Workbook, object]:
    wb = Workbook()
    ws = wb.active
    ws.title = title
    ws.append(headers)
    for i, _h in enumerate(headers, start=1):
        ws.cell(row=1, column=i).font = Font(bold=True)
        ws.column_dimensions[get_column_letter(i)].width = 16
    ws.freeze_panes = "A2"
    return wb, ws


def _save(wb: Workbook) -> bytes:
    out = BytesIO()
    wb.save(out)
    return out.getvalue()


def _rows(fh: IO[bytes], headers: list[str]) -> Iterable[tuple[int, dict]]:
    try:
        wb = load_workbook(fh, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a non-xlsx file
        raise SheetError([_("文件不是有效的 .xlsx 表格")]) from exc
    ws = wb.worksheets[0]
    it = ws.iter_rows(values_only=True)
    head = [str(c).strip() if c is not None else "" for c in next(it, ())]
    missing = [h for h in headers if h not in head and h not in ("计量单位", "备注")]
    if missing:
        raise SheetError([_("表头缺少列:%(c)s(第一行应为:%(h)s)")
                          % {"c": "、".join(missing), "h": "、".join(headers)}])
    index = {h: head.index(h) for h in headers if h in head}
    for line, values in enumerate(it, start=2):
        if line - 1 > MAX_ROWS:
            raise SheetError([_("一次最多导入 %(n)d 行") % {"n": MAX_ROWS}])
        if values is None or all(v in (None, "") for v in values):
            continue
        yield line, {h: (values[i] if i < len(values) else None) for h, i in index.items()}


def _decimal(value, line: int, column: str, errors: list[str], *, required=True) -> Decimal | None:
    if value in (None, ""):
        if required:
            errors.append(_("第 %(n)d 行「%(c)s」:不能为空") % {"n": line, "c": column})
        return None
    try:
        number = Decimal(str(value).replace(",", "").strip())
    except InvalidOperation:
        errors.append(_("第 %(n)d 行「%(c)s」:“%(v)s”不是数字") % {"n": line, "c": column, "v": value})
        return None
    if not number.is_finite() or number < 0:
        errors.append(_("第 %(n)d 行「%(c)s」:必须是不小于 0 的数") % {"n": line, "c": column})
        return None
    return number


def _int(value, line: int, column: str, errors: list[str], lo: int, hi: int,
         *, required=True) -> int | None:
    if value in (None, ""):
        if required:
            errors.append(_("第 %(n)d 行「%(c)s」:不能为空") % {"n": line, "c": column})
        return None
    try:
        number = int(str(value).strip().removesuffix("月").removesuffix("年"))
    except ValueError:
        number = None
    if number is None or not lo <= number <= hi:
        errors.append(_("第 %(n)d 行「%(c)s」:应为 %(lo)d–%(hi)d 的整数")
                      % {"n": line, "c": column, "lo": lo, "hi": hi})
        return None
    return number


def _date(value, line: int, errors: list[str]) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value or "").strip().replace("/", "-").replace(".", "-")
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        errors.append(_("第 %(n)d 行「日期」:“%(v)s”不是日期(格式 2021-10-08)")
                      % {"n": line, "v": value or ""})
        return None


# --- tallies ------------------------------------------------------------------------------

def tally_template() -> bytes:
    wb, ws = _book(TALLY_HEADERS, _("工作量"))
    types = wb.create_sheet(_("工作类型"))
    types.append(["类别", "工作类型", "计量单位"])
    for t in ActivityType.objects.filter(is_active=True):
        types.append([t.section, t.name, t.measure])
    return _save(wb)


def tally_export(tallies) -> bytes:
    wb, ws = _book(TALLY_HEADERS, _("工作量"))
    for t in tallies.select_related("org_unit", "activity").order_by("date", "pk").iterator():
        ws.append([t.date, t.org_unit.name, t.activity.name, t.quantity, t.activity.measure, t.note])
        ws.cell(row=ws.max_row, column=1).number_format = "yyyy-mm-dd"
    return _save(wb)


def _unit_lookup(user, cap: str) -> dict[str, list[OrgUnit]]:
    lookup: dict[str, list[OrgUnit]] = {}
    for unit in units_in_scope(user, cap):
        for key in {unit.name, unit.code} - {""}:
            lookup.setdefault(key, []).append(unit)
    return lookup


def read_tallies(fh: IO[bytes], user) -> list[TallyRow]:
    """Parse and check a tally sheet for ``user``; raise SheetError listing every problem."""
    units = _unit_lookup(user, Cap.BUSINESS_WRITE)
    types = {t.name: t for t in ActivityType.objects.filter(is_active=True)}
    errors: list[str] = []
    rows: list[TallyRow] = []
    for line, row in _rows(fh, TALLY_HEADERS):
        date = _date(row.get("日期"), line, errors)
        unit_name = str(row.get("单位") or "").strip()
        matches = units.get(unit_name, [])
        unit = None
        if not unit_name:
            errors.append(_("第 %(n)d 行「单位」:不能为空") % {"n": line})
        elif not matches:
            errors.append(_("第 %(n)d 行「单位」:“%(u)s”不存在或不在您的录入范围内")
                          % {"n": line, "u": unit_name})
        elif len(matches) > 1:
            errors.append(_("第 %(n)d 行「单位」:“%(u)s”有重名,请填写区划代码")
                          % {"n": line, "u": unit_name})
        else:
            unit = matches[0]
        type_name = str(row.get("工作类型") or "").strip()
        activity = types.get(type_name)
        if activity is None:
            errors.append(_("第 %(n)d 行「工作类型」:“%(t)s”不是启用的工作类型(见模板第二页)")
                          % {"n": line, "t": type_name})
        measure = str(row.get("计量单位") or "").strip()
        if activity is not None and measure and measure != activity.measure:
            errors.append(_("第 %(n)d 行「计量单位」:“%(t)s”按“%(m)s”计,不是“%(x)s”")
                          % {"n": line, "t": activity.name, "m": activity.measure, "x": measure})
        quantity = _decimal(row.get("数量"), line, "数量", errors)
        note = str(row.get("备注") or "").strip()
        if len(note) > 500:
            errors.append(_("第 %(n)d 行「备注」:不能超过 500 字") % {"n": line})
        if date and unit and activity and quantity is not None:
            rows.append(TallyRow(line, unit, date, activity, quantity, note))
    if errors:
        raise SheetError(errors)
    if not rows:
        raise SheetError([_("表格中没有数据行")])
    return rows


# --- indicators ---------------------------------------------------------------------------

def indicator_template(user, year: int, month: int) -> bytes:
    """One row per indicator and street the user may enter, with what is already known."""
    wb, ws = _book(INDICATOR_HEADERS, _("经济指标"))
    rows = indicator_rows(ind.enterable_streets(user), year, month)
    for row in rows:
        ws.append(row)
    return _save(wb)


def indicator_rows(streets: list[OrgUnit], year: int, month: int) -> list[list]:
    from .models import IndicatorTarget, IndicatorValue

    street_ids = [s.pk for s in streets]
    targets = {(t.indicator_id, t.org_unit_id): t.target for t in
               IndicatorTarget.objects.filter(org_unit_id__in=street_ids, year=year)}
    values = {(v.indicator_id, v.org_unit_id): v.actual for v in
              IndicatorValue.objects.filter(org_unit_id__in=street_ids, year=year, month=month)}
    out = []
    for indicator in Indicator.objects.filter(is_active=True):
        for street in streets:
            out.append([indicator.name, indicator.unit, street.name, year, month,
                        targets.get((indicator.pk, street.pk)),
                        values.get((indicator.pk, street.pk))])
    return out


def bulletin_export(rows: list[ind.BulletinRow], year: int, month: int) -> bytes:
    headers = ["指标", "计量单位", "街道", "年度目标", "累计完成", "完成进度(%)", "同比增长(%)",
               "排名"]
    wb, ws = _book(headers, f"{year}年{month}月通报")
    for r in rows:
        ws.append([r.indicator.name, r.indicator.unit, r.street.name, r.target, r.actual,
                   r.progress, r.yoy, r.rank if r.rank is not None else _("未排名")])
    return _save(wb)


def read_indicators(fh: IO[bytes], user) -> list[IndicatorRow]:
    indicators = {i.name: i for i in Indicator.objects.filter(is_active=True)}
    indicators.update({i.code: i for i in indicators.values()})
    streets: dict[str, OrgUnit] = {}
    for street in OrgUnit.objects.filter(kind=OrgUnitKind.STREET, is_active=True):
        if has_cap(user, Cap.DISTRICT_STATS, street) or ind.may_enter(user, street):
            streets[street.name] = street
            if street.code:
                streets[street.code] = street
    errors: list[str] = []
    rows: list[IndicatorRow] = []
    seen: dict[tuple, int] = {}
    for line, row in _rows(fh, INDICATOR_HEADERS):
        name = str(row.get("指标") or "").strip()
        indicator = indicators.get(name)
        if indicator is None:
            errors.append(_("第 %(n)d 行「指标」:“%(v)s”不是启用的经济指标") % {"n": line, "v": name})
        unit = str(row.get("计量单位") or "").strip()
        if indicator is not None and unit and unit != indicator.unit:
            errors.append(_("第 %(n)d 行「计量单位」:%(i)s以“%(u)s”计,不是“%(x)s”")
                          % {"n": line, "i": indicator.name, "u": indicator.unit, "x": unit})
        street_name = str(row.get("街道") or "").strip()
        street = streets.get(street_name)
        if street is None:
            errors.append(_("第 %(n)d 行「街道」:“%(v)s”不存在或不在您的录入范围内")
                          % {"n": line, "v": street_name})
        year = _int(row.get("年度"), line, "年度", errors, 2000, 2100)
        month = _int(row.get("月份"), line, "月份", errors, 1, 12, required=False)
        target = _decimal(row.get("年度目标"), line, "年度目标", errors, required=False)
        actual = _decimal(row.get("累计完成"), line, "累计完成", errors, required=False)
        if actual is not None and month is None:
            errors.append(_("第 %(n)d 行「月份」:填写了累计完成就必须填写月份") % {"n": line})
        if indicator and street and year:
            key = (indicator.pk, street.pk, year, month)
            if key in seen:
                errors.append(_("第 %(n)d 行:与第 %(m)d 行重复(同一指标、街道、年月)")
                              % {"n": line, "m": seen[key]})
            seen[key] = line
            if target is not None or actual is not None:
                rows.append(IndicatorRow(line, indicator, street, year, month, target, actual))
    if errors:
        raise SheetError(errors)
    if not rows:
        raise SheetError([_("表格中没有数据行")])
    return rows


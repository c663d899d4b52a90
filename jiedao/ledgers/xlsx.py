"""Reading and writing .xlsx for the ledgers: the safe, fast reader and the writers.

Reading: openpyxl's read-only mode alone needs about 20 s for 100,000 rows of 7 columns on
the 2-core machines (bench/ledgers_import.py), which is the whole budget of a 5,000 rows/s
import. So uploads are read by a small streaming reader over the sheet XML (lxml iterparse,
shared strings resolved from a list) that yields plain values — str, int, float, bool,
datetime — per row, keyed by row number. Before anything parses a file the zip directory is
checked: a file that is not a zip or lacks a workbook is "not an xlsx", and declared
uncompressed sizes above the limits (or absurd compression ratios) are refused as a zip bomb,
so no member is ever inflated beyond what was declared (members are read with a hard cap too).

Writing uses openpyxl (templates with data-validation drop-downs, exports, error reports).
"""

from __future__ import annotations

import datetime as dt
import html
import io
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from django.utils.translation import gettext as _
from lxml import etree

MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # the file as uploaded
MAX_UNCOMPRESSED_BYTES = 300 * 1024 * 1024  # all members together, as declared
MAX_MEMBER_RATIO = 200  # uncompressed ÷ compressed, per member of any real size

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"


_CHARREF_RE = re.compile(rb"&#(\d{3,7});")


class _CharRefs(dict):
    def __missing__(self, digits: bytes) -> bytes:
        code = int(digits)
        self[digits] = value = chr(code).encode("utf-8") if 128 <= code < 0x110000 else b"&#" + digits + b";"
        return value


_CHARREFS = _CharRefs()


def _charref(match: re.Match) -> bytes:
    return _CHARREFS[match.group(1)]


class XlsxError(Exception):
    """The file as a whole cannot be read; ``code`` names the rule for tests and reports."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class SheetRow:
    number: int  # 1-based row number as Excel shows it
    values: list[Any]  # by 0-based column index; missing cells are None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def check_archive(data: bytes) -> zipfile.ZipFile:
    """Open ``data`` as a zip after checking it is an xlsx and not a bomb."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise XlsxError(
            "too_large",
            _("文件过大(%(n)s MB),上限为 %(m)s MB")
            % {"n": round(len(data) / 1048576, 1), "m": MAX_UPLOAD_BYTES // 1048576},
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        raise XlsxError(
            "not_xlsx", _("文件不是有效的 .xlsx 文件(请用 Excel 或 WPS 另存为 .xlsx 后再上传)")
        ) from None
    names = {info.filename for info in infos}
    if "xl/workbook.xml" not in names and not any(n.endswith("workbook.xml") for n in names):
        raise XlsxError("not_xlsx", _("文件不是有效的 .xlsx 文件(压缩包中没有工作簿)"))
    total = 0
    for info in infos:
        total += info.file_size
        if info.file_size > 1_000_000 and info.file_size > MAX_MEMBER_RATIO * max(info.compress_size, 1):
            raise XlsxError(
                "zip_bomb",
                _("文件解压后异常膨胀(%(name)s 压缩比超过 %(r)s 倍),疑似压缩炸弹,已拒绝")
                % {"name": info.filename, "r": MAX_MEMBER_RATIO},
            )
    if total > MAX_UNCOMPRESSED_BYTES:
        raise XlsxError(
            "zip_bomb",
            _("文件解压后共 %(n)s MB,超过上限 %(m)s MB,疑似压缩炸弹,已拒绝")
            % {"n": total // 1048576, "m": MAX_UNCOMPRESSED_BYTES // 1048576},
        )
    return archive


class _CappedReader(io.RawIOBase):
    """A member stream that stops with an error past its declared size (lying headers)."""

    def __init__(self, raw: IO[bytes], limit: int):
        self.raw, self.left = raw, limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunk = self.raw.read(min(len(buffer), self.left + 1))
        if len(chunk) > self.left:
            raise XlsxError("zip_bomb", _("文件内容超过其声明的大小,疑似压缩炸弹,已拒绝"))
        self.left -= len(chunk)
        buffer[: len(chunk)] = chunk
        return len(chunk)


def _open_member(archive: zipfile.ZipFile, name: str) -> IO[bytes]:
    info = archive.getinfo(name)
    return io.BufferedReader(_CappedReader(archive.open(info), info.file_size))


def _parse_member(archive: zipfile.ZipFile, name: str):
    with _open_member(archive, name) as stream:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
        return etree.parse(stream, parser).getroot()


def _first_sheet_path(archive: zipfile.ZipFile) -> str:
    names = set(archive.namelist())
    try:
        workbook = _parse_member(archive, "xl/workbook.xml")
        rels = _parse_member(archive, "xl/_rels/workbook.xml.rels")
    except (KeyError, etree.XMLSyntaxError):
        raise XlsxError("not_xlsx", _("文件不是有效的 .xlsx 文件(工作簿结构损坏)")) from None
    targets = {rel.get("Id"): rel.get("Target", "") for rel in rels if _local(rel.tag) == "Relationship"}
    for element in workbook.iter():
        if _local(element.tag) == "sheet":
            rid = next((v for k, v in element.attrib.items() if _local(k) == "id"), None)
            target = targets.get(rid, "")
            path = target.lstrip("/") if target.startswith("/") else "xl/" + target
            if path in names:
                return path
            break
    raise XlsxError("not_xlsx", _("文件中没有工作表"))


_SI_RE = re.compile(rb"<(?:\w+:)?si\b[^>]*?(?:/>|>(.*?)</(?:\w+:)?si>)", re.S)


def _shared_strings(archive: zipfile.ZipFile) -> list[str]:
    if "xl/sharedStrings.xml" not in archive.namelist():
        return []
    with _open_member(archive, "xl/sharedStrings.xml") as stream:
        raw = stream.read()
    if b"&#" in raw:
        raw = _CHARREF_RE.sub(_charref, raw)
    strings = []
    for body in _SI_RE.findall(raw):
        if body.startswith(b"<t") and body.count(b"<") == 2:
            strings.append(_text(_T_RE.match(body).group(1)) if _T_RE.match(body) else "")
        else:
            strings.append(_text(b"".join(_T_RE.findall(_RPH_RE.sub(b"", body)))))
    return strings


_COL_RE = re.compile(rb"([A-Z]+)")
_CELL_RE = re.compile(rb"<(?:\w+:)?c\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?c>)", re.S)
_ROW_RE = re.compile(rb"<(?:\w+:)?row\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?row>)", re.S)
_R_ATTR = re.compile(rb'\br="([A-Z]*)(\d*)"')
_T_ATTR = re.compile(rb'\bt="(\w+)"')
_V_RE = re.compile(rb"<(?:\w+:)?v>([^<]*)</(?:\w+:)?v>")
_T_RE = re.compile(rb"<(?:\w+:)?t(?:\s[^>]*)?>([^<]*)</(?:\w+:)?t>")
_RPH_RE = re.compile(rb"<(?:\w+:)?rPh\b.*?</(?:\w+:)?rPh>", re.S)
_SHEETDATA_RE = re.compile(rb"<(\w+:)?sheetData\b")
CHUNK = 4 * 1024 * 1024


def _column_index(letters: bytes, cache: dict[bytes, int]) -> int:
    index = cache.get(letters)
    if index is None:
        index = 0
        for char in letters:
            index = index * 26 + char - 64
        cache[letters] = index = index - 1
    return index


def _text(raw: bytes) -> str:
    text = raw.decode("utf-8")
    return html.unescape(text) if "&" in text else text


def _number(text: bytes) -> int | float:
    if text.lstrip(b"-").isdigit():
        return int(text)
    return float(text)


def _cell_value(kind: bytes | None, inner: bytes | None, strings: list[str]) -> Any:
    if not inner:
        return None
    if kind == b"inlineStr":
        return _text(b"".join(_T_RE.findall(_RPH_RE.sub(b"", inner))))
    match = _V_RE.search(inner)
    if match is None:
        return None
    text = match.group(1)
    if kind is None or kind == b"n":
        return _number(text) if text else None
    if kind == b"s":
        return strings[int(text)]
    if kind == b"b":
        return text == b"1"
    if kind == b"d":
        return dt.datetime.fromisoformat(text.decode())
    if kind == b"e":
        return None
    return _text(text)  # "str": a formula's cached text


_CELL_FAST_RE = re.compile(rb"<(?:\w+:)?c(?: r=\"([A-Z]+)\d+\")?([^>]*?)(?:/>|>(.*?)</(?:\w+:)?c>)", re.S)
_INLINE_PREFIX, _INLINE_SUFFIX = b"<is><t>", b"</t></is>"


def _rows_in(block: bytes, strings: list[str], cols: dict[bytes, int], last: int) -> Iterator[SheetRow]:
    if b"&#" in block:  # non-ASCII characters written as references: safe to decode up front
        block = _CHARREF_RE.sub(_charref, block)
    for attrs, body in _ROW_RE.findall(block):
        ref = _R_ATTR.search(attrs)
        last = int(ref.group(2)) if ref and ref.group(2) else last + 1
        values: list[Any] = []
        if body:
            position = 0
            for letters, cattrs, inner in _CELL_FAST_RE.findall(body):
                if not letters and b"r=" in cattrs:
                    letters = _R_ATTR.search(cattrs).group(1)
                index = _column_index(letters, cols) if letters else position
                position = index + 1
                if not inner:
                    continue
                if b"t=" in cattrs:
                    kind = _T_ATTR.search(cattrs).group(1)
                    if (
                        kind == b"inlineStr"
                        and inner.startswith(_INLINE_PREFIX)
                        and inner.endswith(_INLINE_SUFFIX)
                        and inner.count(b"<") == 4
                    ):
                        value: Any = _text(inner[7:-9])
                    else:
                        value = _cell_value(kind, inner, strings)
                else:
                    value = _cell_value(None, inner, strings)
                if value is not None and value != "":
                    if index >= len(values):
                        values.extend([None] * (index - len(values) + 1))
                    values[index] = value
        yield SheetRow(last, values)


def read_rows(data: bytes) -> Iterator[SheetRow]:
    """The rows of the first worksheet, as plain values. Raises XlsxError for unreadable files.

    The sheet is inflated in chunks (capped at its declared size) and cut at row ends, so
    memory stays at a few chunks whatever the row count.
    """
    archive = check_archive(data)
    strings = _shared_strings(archive)
    sheet = _first_sheet_path(archive)
    cols: dict[bytes, int] = {}
    last = 0
    with _open_member(archive, sheet) as stream:
        buffer = b""
        row_end = None
        while True:
            chunk = stream.read(CHUNK)
            buffer += chunk
            if row_end is None:
                found = _SHEETDATA_RE.search(buffer)
                if found is None and chunk:
                    continue
                prefix = (found.group(1) or b"") if found else b""
                row_end = b"</" + prefix + b"row>"
            cut = buffer.rfind(row_end) if chunk else len(buffer)
            if cut == -1:
                if not chunk:
                    break
                continue
            if chunk:
                cut += len(row_end)
            block, buffer = buffer[:cut], buffer[cut:]
            for row in _rows_in(block, strings, cols, last):
                last = row.number
                yield row
            if not chunk:
                break


# --- writing ------------------------------------------------------------------------------


def workbook_bytes(workbook) -> bytes:
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def write_table(
    title: str,
    headers: list[str],
    rows: Iterable[list[Any]],
    *,
    text_columns: Iterable[int] = (),
    widths: list[int] | None = None,
) -> bytes:
    """A plain one-sheet workbook (exports and error reports) written in streaming mode."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font, PatternFill

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title[:31])
    for i, width in enumerate(widths or [16] * len(headers)):
        sheet.column_dimensions[_letter(i)].width = width
    bold, fill = Font(bold=True), PatternFill("solid", fgColor="DDE7F0")
    header_cells = []
    for text in headers:
        cell = WriteOnlyCell(sheet, value=text)
        cell.font, cell.fill = bold, fill
        header_cells.append(cell)
    sheet.append(header_cells)
    text_set = set(text_columns)
    for row in rows:
        if text_set:
            out = []
            for i, value in enumerate(row):
                if i in text_set and value not in (None, ""):
                    cell = WriteOnlyCell(sheet, value=str(value))
                    cell.number_format = "@"
                    out.append(cell)
                else:
                    out.append(value)
            sheet.append(out)
        else:
            sheet.append(row)
    return workbook_bytes(workbook)


def _letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index + 1)

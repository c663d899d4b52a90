"""Reading and writing .xlsx for the ledgers: the safe, fast reader and the writers.

Reading: openpyxl's read-only mode alone needs about 20 s for 100,000 rows of 7 columns on
the 2-core machines (bench/ledgers_import.py), which is the whole budget of a 5,000 rows/s
import. So uploads are read by a small streaming reader over the sheet XML that yields plain
values — str, int, float, bool, datetime — per row, keyed by row number: the sheet is inflated
in 4 MB chunks cut at row ends, each chunk's non-ASCII character references are resolved in
one pass (whole runs at a time, cached) and one compiled pattern reads rows and cells, with a
branch for the cell shapes Excel, WPS and openpyxl write and a general one for the rest;
shared strings are read once. Before anything parses a file the zip directory is
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
# A run of references (a whole Chinese word as openpyxl writes it): replaced as one, cached.
_CHARREF_RUN_RE = re.compile(rb"&#\d{3,7};(?:&#\d{3,7};)*")  # literal first: a fast scan


def _charref(match: re.Match) -> bytes:
    code = int(match.group(1))
    return chr(code).encode("utf-8") if 128 <= code < 0x110000 else match.group(0)


class _CharRefRuns(dict):
    """Run of ``&#NNNNN;`` → its UTF-8 bytes (references below 128 stay as they are: they may
    be markup such as ``&#60;``). One per read, so memory ends with the read."""

    def __missing__(self, run: bytes) -> bytes:
        self[run] = value = _CHARREF_RE.sub(_charref, run)
        return value


def _charref_replacer():
    runs = _CharRefRuns()

    def replace(match: re.Match) -> bytes:
        return runs[match.group()]

    return replace


def _decode(raw: bytes, replace) -> str:
    """Bytes of XML → text, with the non-ASCII character references already resolved."""
    if b"&#" in raw:
        raw = _CHARREF_RUN_RE.sub(replace, raw)
    return raw.decode("utf-8")


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


_SI_RE = re.compile(r"<(?:\w+:)?si\b[^>]*?(?:/>|>(.*?)</(?:\w+:)?si>)", re.S | re.A)


def _shared_strings(archive: zipfile.ZipFile, replace=None) -> list[str]:
    if "xl/sharedStrings.xml" not in archive.namelist():
        return []
    with _open_member(archive, "xl/sharedStrings.xml") as stream:
        raw = _decode(stream.read(), replace or _charref_replacer())
    strings = []
    for body in _SI_RE.findall(raw):
        if body.startswith("<t") and body.count("<") == 2:
            match = _T_RE.match(body)
            strings.append(_text(match.group(1)) if match else "")
        else:
            strings.append(_text("".join(_T_RE.findall(_RPH_RE.sub("", body)))))
    return strings


# The sheet is decoded to text block by block (blocks end at a row end, so no character is
# split) and read with one pattern over the whole block, three branches:
# 1. a row's start tag: (row tag, its attributes);
# 2. a cell in the shapes Excel, WPS and openpyxl write — <c r="B7" s="1" t="s"><v>3</v></c>,
#    <c r="A3" t="inlineStr"><is><t>…</t></is></c>, <c r="C2"/> — giving column letters, type
#    and value text with no further work; its closing part (never empty) marks the branch;
# 3. any other cell (other attributes or their order, prefixes, rich text, formulas,
#    xml:space): (attributes, inner XML), read by the general rules.
# Cells belong to the row whose start tag came last. re.A: \w \d \s \b are ASCII, as in markup.
_SHEET_RE = re.compile(
    r"(<(?:\w+:)?row)\b([^>]*?)/?>"
    r'|<c(?: r="([A-Z]+)\d+")?(?: s="\d+")?(?: t="(\w+)")?(?: s="\d+")?'
    r"(/>|><is><t>([^<]*)</t></is></c>|><v>([^<]*)</v></c>)"
    r"|<(?:\w+:)?c\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?c>)",
    re.S | re.A,
)
_R_ATTR = re.compile(r'\br="([A-Z]*)(\d*)"', re.A)
_T_ATTR = re.compile(r'\bt="(\w+)"', re.A)
_V_RE = re.compile(r"<(?:\w+:)?v>([^<]*)</(?:\w+:)?v>", re.A)
_T_RE = re.compile(r"<(?:\w+:)?t(?:\s[^>]*)?>([^<]*)</(?:\w+:)?t>", re.A)
_RPH_RE = re.compile(r"<(?:\w+:)?rPh\b.*?</(?:\w+:)?rPh>", re.S | re.A)
_SHEETDATA_RE = re.compile(rb"<(\w+:)?sheetData\b")
CHUNK = 4 * 1024 * 1024


class _Columns(dict):
    """Column letters → 0-based index, computed once per distinct letters."""

    def __missing__(self, letters: str) -> int:
        index = 0
        for char in letters:
            index = index * 26 + ord(char) - 64
        self[letters] = index - 1
        return index - 1


def _text(raw: str) -> str:
    return html.unescape(raw) if "&" in raw else raw


def _number(text: str) -> int | float:
    if not text.isascii():
        return float(text.encode())  # as the XML's bytes: not a number (ValueError)
    if text.lstrip("-").isdigit():
        return int(text)
    return float(text)


def _cell_value(kind: str | None, inner: str | None, strings: list[str]) -> Any:
    if not inner:
        return None
    if kind == "inlineStr":
        return _text("".join(_T_RE.findall(_RPH_RE.sub("", inner))))
    match = _V_RE.search(inner)
    if match is None:
        return None
    return _typed(kind, match.group(1), strings)


def _typed(kind: str | None, text: str, strings: list[str]) -> Any:
    """The value of a cell's <v> text by its type attribute."""
    if not kind or kind == "n":
        return _number(text) if text else None
    if kind == "s":
        return strings[int(text)]
    if kind == "b":
        return text == "1"
    if kind == "d":
        return dt.datetime.fromisoformat(text)
    if kind == "e":
        return None
    if kind == "inlineStr":  # a <v> where <is> belongs: no text
        return ""
    return _text(text)  # "str": a formula's cached text


def _rows_in(
    text: str, strings: list[str], shared: dict[str, str], cols: _Columns, last: int
) -> Iterator[SheetRow]:
    values: list[Any] | None = None  # the open row's values (None before the first row)
    position = 0
    for row_tag, attrs, letters, kind, end, inline, v, attributes, inner in _SHEET_RE.findall(text):
        if end:  # a cell in the common shapes
            index = cols[letters] if letters else position
            position = index + 1
            if inline:
                if kind != "inlineStr":
                    continue  # an <is> on another type holds no value
                value: Any = html.unescape(inline) if "&" in inline else inline
            elif end[2:3] == "v":
                if kind == "s":
                    value = shared.get(v)
                    if value is None:
                        value = strings[int(v)]
                elif not kind or kind == "n":
                    if not v:
                        continue
                    value = _number(v)
                else:
                    value = _typed(kind, v, strings)
            else:
                continue  # <c …/> or an empty inline string
        elif row_tag:
            if values is not None:
                yield SheetRow(last, values)
            number = attrs[4 : attrs.find('"', 4)] if attrs[:4] == ' r="' else ""
            if number.isdigit() and number.isascii():
                last = int(number)
            else:
                ref = _R_ATTR.search(attrs)
                last = int(ref.group(2)) if ref and ref.group(2) else last + 1
            values, position = [], 0
            continue
        else:  # any other cell
            ref = _R_ATTR.search(attributes) if "r=" in attributes else None
            index = cols[ref.group(1)] if ref and ref.group(1) else position
            position = index + 1
            if not inner:
                continue
            typed = _T_ATTR.search(attributes) if "t=" in attributes else None
            value = _cell_value(typed.group(1) if typed else None, inner, strings)
        if value is None or value == "" or values is None:
            continue
        size = len(values)
        if index == size:
            values.append(value)
        elif index > size:
            values.extend([None] * (index - size))
            values.append(value)
        else:
            values[index] = value
    if values is not None:
        yield SheetRow(last, values)


def read_rows(data: bytes) -> Iterator[SheetRow]:
    """The rows of the first worksheet, as plain values. Raises XlsxError for unreadable files.

    The sheet is inflated in chunks (capped at its declared size) and cut at row ends, so
    memory stays at a few chunks whatever the row count.
    """
    archive = check_archive(data)
    replace = _charref_replacer()
    strings = _shared_strings(archive, replace)
    shared = {str(i): s for i, s in enumerate(strings)}
    sheet = _first_sheet_path(archive)
    cols = _Columns()
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
            for row in _rows_in(_decode(block, replace), strings, shared, cols, last):
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

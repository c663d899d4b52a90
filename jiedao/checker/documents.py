"""Documents in and out: reading .docx/.txt/.md uploads, writing the annotated .docx (each
finding a Word comment on its text, the text itself unchanged) and the highlighted HTML view."""

from __future__ import annotations

import copy
import io
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from docx import Document
from docx.oxml.ns import qn
from docx.text.paragraph import Paragraph
from docx.text.run import Run

from .findings import Finding

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
TEXT_SUFFIXES = (".txt", ".md", ".markdown", ".text")
COMMENT_AUTHOR = "报告校对"
COMMENT_INITIALS = "JD"


class DocumentError(ValueError):
    """An upload that cannot be read; the message says why, in Chinese."""


@dataclass
class Source:
    kind: str  # "docx" or "text"
    name: str
    paragraphs: list[str]
    data: bytes = b""  # the original .docx, kept to annotate it


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM), else GB18030 (which also reads GBK/GB2312)."""
    if b"\x00" in data[:4096]:
        raise DocumentError(_("文件不是文本文件(含二进制内容)。"))
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise DocumentError(_("无法识别文件编码,请使用 UTF-8 或 GB18030 编码的文本。"))


def _is_docx(data: bytes) -> bool:
    if not data.startswith(b"PK\x03\x04"):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return "word/document.xml" in archive.namelist()
    except zipfile.BadZipFile:
        return False


def read_upload(name: str, data: bytes) -> Source:
    """Sniff the content (not just the name): a Word document or a text file."""
    from .engine import split_paragraphs

    if len(data) > MAX_UPLOAD_BYTES:
        raise DocumentError(_("文件过大:上限为 %(mb)s MB。") % {"mb": MAX_UPLOAD_BYTES // (1024 * 1024)})
    lower = name.lower()
    if _is_docx(data):
        try:
            document = Document(io.BytesIO(data))
        except Exception as error:  # python-docx raises several kinds on a damaged package
            raise DocumentError(_("无法读取该 Word 文档:%(e)s") % {"e": error.__class__.__name__}) from None
        return Source("docx", name, [p.text for p in docx_paragraphs(document)], data)
    foreign = data.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0", b"%PDF"))
    if foreign or lower.endswith((".doc", ".pdf", ".wps")):
        raise DocumentError(_("仅支持 .docx、.txt、.md 文件(旧版 .doc、PDF 请另存为 .docx)。"))
    if not lower.endswith(TEXT_SUFFIXES) and "." in lower.rsplit("/", 1)[-1]:
        raise DocumentError(_("仅支持 .docx、.txt、.md 文件。"))
    return Source("text", name, split_paragraphs(decode_text(data)))


def docx_paragraphs(document) -> list[Paragraph]:
    """Every paragraph of the body in document order, those in tables included."""
    body = document.element.body
    return [Paragraph(p, document.part) for p in body.iter(qn("w:p"))]


# --- annotated .docx --------------------------------------------------------------------

def _runs(p) -> list:
    """The paragraph's ``w:r`` elements that make up ``paragraph.text``, in order."""
    return list(p.xpath("./w:r | ./w:hyperlink/w:r"))


_TEXT_TAGS = {qn("w:t"), qn("w:tab"), qn("w:br"), qn("w:cr"), qn("w:noBreakHyphen"), qn("w:ptab")}


def _child_len(child) -> int:
    if child.tag == qn("w:t"):
        return len(child.text or "")
    if child.tag in _TEXT_TAGS:
        return len(str(child))
    return 0


def _split_run(r, k: int) -> None:
    """Split run element ``r`` so that its first ``k`` characters stay and the rest move to a
    copy inserted after it. Formatting (``w:rPr``) goes to both; no character changes."""
    second = copy.deepcopy(r)
    r.addnext(second)
    for element, keep_first in ((r, True), (second, False)):
        pos = 0
        for child in list(element):
            if child.tag == qn("w:rPr"):
                continue
            length = _child_len(child)
            c_start, c_end = pos, pos + length
            pos = c_end
            if child.tag == qn("w:t") and c_start < k < c_end:
                text = child.text or ""
                cut = k - c_start
                child.text = text[:cut] if keep_first else text[cut:]
                child.set("{http://www.w3.org/XML/1998/namespace}space", "preserve")
                continue
            in_first = c_end <= k if length else c_start < k
            if in_first != keep_first:
                element.remove(child)


def _ensure_boundary(p, offset: int) -> None:
    pos = 0
    for r in _runs(p):
        length = sum(_child_len(c) for c in r)
        if pos < offset < pos + length:
            # Only runs whose text sits in w:t elements can be cut inside that text; a cut
            # falling inside a tab or break is impossible, and the comment then covers the run.
            _split_run(r, offset - pos)
            return
        pos += length


def _runs_between(p, start: int, end: int) -> list:
    chosen, pos = [], 0
    for r in _runs(p):
        length = sum(_child_len(c) for c in r)
        if length and pos < end and start < pos + length:
            chosen.append(r)
        pos += length
    return chosen


def comment_text(finding: Finding) -> str:
    parts = [f"【{finding.kind_label}·{finding.severity_label}】{finding.message}"]
    if finding.arithmetic:
        parts.append(finding.arithmetic)
    return "\n".join(parts)


def annotate_docx(data: bytes | None, paragraphs: Sequence[str], findings: Sequence[Finding]) -> bytes:
    """The document with a comment for each finding. ``data`` is the original .docx, or None
    to build a plain document from ``paragraphs`` (pasted text)."""
    if data:
        document = Document(io.BytesIO(data))
    else:
        document = Document()
        for text in paragraphs:
            document.add_paragraph(text)
    paras = docx_paragraphs(document)
    by_paragraph: dict[int, list[Finding]] = {}
    for finding in findings:
        by_paragraph.setdefault(finding.paragraph, []).append(finding)
    for index, items in by_paragraph.items():
        if index >= len(paras):
            continue
        paragraph = paras[index]
        p = paragraph._p
        for finding in items:
            _ensure_boundary(p, finding.start)
            _ensure_boundary(p, finding.end)
        for finding in items:
            runs = _runs_between(p, finding.start, finding.end)
            if not runs:
                continue
            document.add_comment([Run(runs[0], paragraph), Run(runs[-1], paragraph)],
                                 text=comment_text(finding), author=COMMENT_AUTHOR,
                                 initials=COMMENT_INITIALS)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


# --- HTML view --------------------------------------------------------------------------

def _segments(text: str, items: list[tuple[int, int, int]]) -> Iterator[tuple[str, list[int]]]:
    """Cut ``text`` at every finding boundary; yield (piece, ids of findings covering it)."""
    cuts = {0, len(text)}
    for start, end, _id in items:
        cuts.update((max(0, start), min(len(text), end)))
    points = sorted(cuts)
    for a, b in zip(points, points[1:], strict=False):
        if a == b:
            continue
        yield text[a:b], [i for s, e, i in items if s <= a and b <= e]


def render_html(paragraphs: Sequence[str], findings: Sequence[Finding]) -> SafeString:
    """The text with each finding highlighted (``<mark>`` linking to its row in the table)."""
    numbered = list(enumerate(findings, start=1))
    by_paragraph: dict[int, list[tuple[int, int, int]]] = {}
    severity = {n: f.severity for n, f in numbered}
    titles = {n: f"{f.kind_label}:{f.message}" for n, f in numbered}
    ends = {n: (f.paragraph, f.end) for n, f in numbered}
    # The parts a finding adds up are underlined (id 0 marks them in the segments).
    parts: dict[int, list[tuple[int, int, int]]] = {}
    for n, f in numbered:
        by_paragraph.setdefault(f.paragraph, []).append((f.start, f.end, n))
        for start, end in f.related:
            parts.setdefault(f.paragraph, []).append((start, end, -n))
    out = []
    for index, text in enumerate(paragraphs):
        if not text.strip():
            continue
        pieces = []
        offset = 0
        for piece, all_ids in _segments(text, by_paragraph.get(index, []) + parts.get(index, [])):
            start_of_piece = offset
            offset += len(piece)
            ids = [i for i in all_ids if i > 0]
            if not ids:
                if all_ids:
                    of = " ".join(f"finding-{-i}" for i in all_ids)
                    pieces.append(f'<span class="chk-part" data-part-of="{of}">{escape(piece)}</span>')
                else:
                    pieces.append(escape(piece))
                continue
            worst = "error" if any(severity[i] == "error" for i in ids) else severity[ids[0]]
            title = " / ".join(titles[i] for i in ids)
            refs = " ".join(f"finding-{i}" for i in ids)
            ending = [i for i in ids if ends[i] == (index, start_of_piece + len(piece))]
            sup = f'<sup>{",".join(map(str, ending))}</sup>' if ending else ""
            pieces.append(
                f'<mark class="chk-mark chk-{worst}" data-findings="{refs}" title="{escape(title)}">'
                f'<a href="#finding-{ids[0]}">{escape(piece)}</a>{sup}</mark>'
            )
        out.append(f'<p id="para-{index}" data-paragraph="{index}">{"".join(pieces)}</p>')
    return mark_safe("\n".join(out))

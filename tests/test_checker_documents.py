"""Documents in and out: uploads are sniffed and decoded; the annotated .docx keeps the text
character for character, with one comment per finding anchored on exactly its text."""

import io
import zipfile

import pytest
from docx import Document
from docx.oxml.ns import qn

from jiedao.checker.documents import (
    DocumentError,
    annotate_docx,
    docx_paragraphs,
    read_upload,
    render_html,
)
from jiedao.checker.engine import check_paragraphs, split_paragraphs
from jiedao.demo import SEED_SUMMARY

SEED = SEED_SUMMARY


def seed_paragraphs():
    return split_paragraphs(SEED.read_text(encoding="utf-8"))


def formatted_docx(paragraphs) -> bytes:
    """The seed as a Word document whose runs change formatting every 7 characters (so the
    findings fall across run boundaries), with a tab, a table and a heading."""
    document = Document()
    document.add_heading("朝农街道2021年工作总结", level=1)
    for text in paragraphs:
        p = document.add_paragraph()
        for i in range(0, len(text), 7):
            run = p.add_run(text[i:i + 7])
            run.bold = (i // 7) % 2 == 0
            run.italic = (i // 7) % 3 == 0
    document.paragraphs[-1].add_run("\t附表")
    cell = document.add_table(rows=1, cols=2).cell(0, 1)
    cell.paragraphs[0].add_run("辖区共有小区3个,其中")
    cell.paragraphs[0].add_run("老旧小区2个、商品房小区2个。")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def comment_anchors(data: bytes) -> dict[str, str]:
    """Comment id → the text between its commentRangeStart and commentRangeEnd."""
    document = Document(io.BytesIO(data))
    anchors: dict[str, str] = {}
    open_ids: dict[str, list[str]] = {}
    for element in document.element.body.iter():
        if element.tag == qn("w:commentRangeStart"):
            open_ids[element.get(qn("w:id"))] = []
        elif element.tag == qn("w:commentRangeEnd"):
            cid = element.get(qn("w:id"))
            anchors[cid] = "".join(open_ids.pop(cid))
        elif element.tag == qn("w:t"):
            for chunks in open_ids.values():
                chunks.append(element.text or "")
    return anchors


def test_annotated_docx_keeps_the_text_and_anchors_each_comment_on_its_finding():
    data = formatted_docx(seed_paragraphs())
    source = read_upload("总结.docx", data)
    assert source.kind == "docx"
    report = check_paragraphs(source.paragraphs)
    assert len(report.findings) == 7  # the seed's six and the table's 2+2 ≠ 3
    out = annotate_docx(source.data, source.paragraphs, report.findings)

    before = Document(io.BytesIO(data))
    after = Document(io.BytesIO(out))
    assert [p.text for p in docx_paragraphs(after)] == [p.text for p in docx_paragraphs(before)]
    assert "".join(t.text or "" for t in after.element.body.iter(qn("w:t"))) == \
        "".join(t.text or "" for t in before.element.body.iter(qn("w:t")))

    comments = list(after.comments)
    assert len(comments) == len(report.findings)
    anchors = comment_anchors(out)
    by_id = {str(c.comment_id): c for c in comments}
    ordered = sorted(anchors.items(), key=lambda kv: int(kv[0]))
    for finding, (cid, anchored) in zip(report.findings, ordered, strict=True):
        assert anchored == finding.quote
        assert finding.message in by_id[cid].text
        assert by_id[cid].author == "报告校对"
    sums = [c.text for c in comments if "31 ≠ 30" in c.text]
    assert len(sums) == 1 and "分项与合计不符" in sums[0]


def test_run_formatting_survives_the_split():
    data = formatted_docx(seed_paragraphs())
    source = read_upload("a.docx", data)
    out = annotate_docx(source.data, source.paragraphs, check_paragraphs(source.paragraphs).findings)

    def per_char(doc):
        return [(ch, r.bold, r.italic) for p in docx_paragraphs(doc) for r in p.runs for ch in r.text]

    assert per_char(Document(io.BytesIO(out))) == per_char(Document(io.BytesIO(data)))


def test_pasted_text_becomes_an_annotated_docx():
    paragraphs = seed_paragraphs()
    report = check_paragraphs(paragraphs)
    out = annotate_docx(None, paragraphs, report.findings)
    document = Document(io.BytesIO(out))
    assert [p.text for p in docx_paragraphs(document)] == paragraphs
    assert sorted(comment_anchors(out).values()) == sorted(f.quote for f in report.findings)


def test_text_uploads_in_utf8_and_gb18030():
    text = "受理各类涉稳案件64起,结案65起。\n第二段"
    for data in (text.encode("utf-8"), b"\xef\xbb\xbf" + text.encode("utf-8"), text.encode("gb18030")):
        source = read_upload("总结.txt", data)
        assert source.kind == "text" and source.paragraphs == ["受理各类涉稳案件64起,结案65起。", "第二段"]
    assert read_upload("notes.md", "# 标题\n正文".encode()).paragraphs == ["# 标题", "正文"]


@pytest.mark.parametrize(("name", "data", "message"), [
    ("a.txt", b"\x00\x01binary", "二进制"),
    ("a.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, ".doc"),
    ("a.pdf", b"%PDF-1.4 ...", "PDF"),
    ("a.exe", b"MZ....", ".docx"),
    ("big.txt", b"a" * (5 * 1024 * 1024 + 1), "过大"),
])
def test_bad_uploads_are_refused_with_a_reason(name, data, message):
    with pytest.raises(DocumentError) as error:
        read_upload(name, data)
    assert message in str(error.value)


def test_a_zip_that_is_not_a_word_document_is_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(DocumentError):
        read_upload("fake.docx", buffer.getvalue())


def test_a_docx_named_txt_is_still_read_as_docx():
    source = read_upload("renamed.txt", formatted_docx(["共有小区3个,其中老旧小区2个、商品房小区2个。"]))
    assert source.kind == "docx"
    assert source.paragraphs[1] == "共有小区3个,其中老旧小区2个、商品房小区2个。\t附表"
    assert source.paragraphs[-1] == "辖区共有小区3个,其中老旧小区2个、商品房小区2个。"  # from the table


def test_html_view_highlights_findings_and_escapes_text():
    paragraphs = ["<b>受理</b>案件64起,结案65起。", "", "辖区共有楼宇7栋,其中已成型5栋、正在形成3栋。"]
    report = check_paragraphs(paragraphs)
    html = str(render_html(paragraphs, report.findings))
    assert "<b>" not in html and "&lt;b&gt;" in html
    assert html.count('<mark class="chk-mark chk-error"') == 2
    assert '<a href="#finding-1">65起</a><sup>1</sup>' in html
    assert '<span class="chk-part" data-part-of="finding-1">64起</span>' in html  # what it was compared with
    assert '<a href="#finding-2">7栋</a><sup>2</sup>' in html
    assert 'id="para-2"' in html and 'id="para-1"' not in html  # empty paragraphs are skipped


def test_overlapping_findings_share_a_highlight():
    from jiedao.checker.findings import Finding

    text = "abcdef"
    findings = [Finding("a", "warning", 0, 0, 4, "abcd", "m1"), Finding("b", "error", 0, 2, 6, "cdef", "m2")]
    html = str(render_html([text], findings))
    assert 'data-findings="finding-1 finding-2"' in html
    assert html.count("<sup>") == 2

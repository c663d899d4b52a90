"""In Debian's Chromium: paste the seed, see the highlights and the table; upload a .docx,
check it, then download the annotated copy without choosing the file again."""

import io
import os
from pathlib import Path

import pytest
from docx import Document

from jiedao.checker.documents import docx_paragraphs
from jiedao.demo import SEED_SUMMARY
from tests.browsing import SHOTS, sign_in

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # sync Playwright + live_server

pytestmark = pytest.mark.browser
SEED = SEED_SUMMARY




def test_check_the_seed_in_the_browser(live_server, world, page, tmp_path):
    SHOTS.mkdir(exist_ok=True)
    page.set_viewport_size({"width": 1366, "height": 900})
    sign_in(page, live_server.url, "keshi", world.password)
    page.click("[data-nav=checker]")
    page.fill("textarea[name=text]", SEED.read_text(encoding="utf-8"))
    page.click("button[value=check]")
    page.wait_for_selector("#findings-table")
    rows = page.locator("#findings-table tbody tr")
    assert rows.count() == 6
    assert "10+5+8+7+1 = 31 ≠ 30" in page.inner_text("#findings-table")
    assert page.locator(".chk-doc mark.chk-error").count() == 6
    page.screenshot(path=str(SHOTS / "checker-seed.png"), full_page=False)
    page.locator("#finding-3").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "checker-seed-table.png"), full_page=False)
    page.locator("#para-8").scroll_into_view_if_needed()
    page.locator("#para-8").screenshot(path=str(SHOTS / "checker-seed-highlights.png"))

    # Upload a .docx, check it through htmx, then download: the file stays selected.
    paragraphs = ["辖区共有楼宇7栋,其中已成型5栋、正在形成2栋、开发建设中1栋。",
                  "受理各类涉稳案件64起,结案64起。"]
    document = Document()
    for text in paragraphs:
        document.add_paragraph(text)
    path = tmp_path / "总结.docx"
    document.save(str(path))
    page.fill("textarea[name=text]", "")
    page.set_input_files("input[name=file]", str(path))
    page.click("button[value=check]")
    page.wait_for_function("document.querySelectorAll('#findings-table tbody tr').length === 1")
    assert "5+2+1 = 8 ≠ 7" in page.inner_text("#findings-table")
    with page.expect_download() as download_info:
        page.click("#download-docx")
    download = download_info.value
    assert download.suggested_filename == "总结-校对批注.docx"
    annotated = Document(io.BytesIO(Path(download.path()).read_bytes()))
    assert [p.text for p in docx_paragraphs(annotated)] == paragraphs
    assert [c.text.splitlines()[-1] for c in annotated.comments] == ["5+2+1 = 8 ≠ 7"]


def test_lexicon_page(live_server, world, page):
    SHOTS.mkdir(exist_ok=True)
    page.set_viewport_size({"width": 1366, "height": 900})
    sign_in(page, live_server.url, "xitong", world.password)
    page.click("[data-nav=checker_lexicon]")
    page.fill("input[name=word]", "维稳对象")
    page.fill("input[name=note]", "对外表述宜用“重点关注人员”")
    page.click("form[action$='/lexicon/add/'] button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "已添加“维稳对象”" in page.inner_text("main")
    assert "维稳对象" in page.inner_text("#word-table")
    page.screenshot(path=str(SHOTS / "checker-lexicon.png"), full_page=False)

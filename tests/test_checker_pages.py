"""报告校对 and 敏感词库 through HTTP against the personas; the JSON API; `jiedao check`."""

import io
import json

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from docx import Document

from jiedao.accounts import tokens
from jiedao.accounts.roles import Role
from jiedao.audit.models import AuditEvent
from jiedao.audit.trail import Actor
from jiedao.checker import demo, services
from jiedao.checker.documents import docx_paragraphs
from jiedao.checker.models import SensitiveWord, WordCategory
from jiedao.demo import SEED_SUMMARY

SEED = SEED_SUMMARY
SEED_TEXT = SEED.read_text(encoding="utf-8")
CHECKERS = [Role.LEADER, Role.STAFF, Role.COMMUNITY_WORKER, Role.GRID_WORKER, Role.DISTRICT_VIEWER,
            Role.DISTRICT_STATISTICIAN, Role.SYSADMIN]
NOT_CHECKERS = [Role.PROVIDER, Role.RESIDENT, Role.DISCIPLINE, Role.SECADMIN, Role.AUDITOR]


def page(response) -> str:
    return response.content.decode()


def docx_bytes(paragraphs) -> bytes:
    document = Document()
    for text in paragraphs:
        document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


# --- who may check ---------------------------------------------------------------------------

@pytest.mark.parametrize("role", CHECKERS)
def test_business_readers_and_the_sysadmin_see_the_checker(client, world, role):
    client.force_login(world.users[role])
    response = client.get(reverse("checker:check"))
    assert response.status_code == 200
    assert 'data-nav="checker"' in page(response) and "报告校对" in page(response)


@pytest.mark.parametrize("role", NOT_CHECKERS)
def test_others_get_404_and_no_menu_entry(client, world, role):
    client.force_login(world.users[role])
    assert client.get(reverse("checker:check")).status_code == 404
    assert client.post(reverse("checker:check"), {"text": "受理64起,结案65起。"}).status_code == 404
    assert 'data-nav="checker"' not in page(client.get(reverse("front:home")))


def test_anonymous_is_sent_to_login(client, db):
    response = client.get(reverse("checker:check"))
    assert response.status_code == 302 and "login" in response["Location"]


# --- checking through the page ---------------------------------------------------------------

def test_pasted_seed_shows_highlights_and_the_findings_table(client, world):
    client.force_login(world.users[Role.STAFF])
    response = client.post(reverse("checker:check"), {"text": SEED_TEXT, "action": "check"})
    html = page(response)
    assert response.status_code == 200
    table = html.split('id="findings-table"', 1)[1].split("</table>", 1)[0]
    assert table.count('<tr id="finding-') == 6
    assert "10+5+8+7+1 = 31 ≠ 30" in table and "5+2+1 = 8 ≠ 7" in table
    assert "42345+38151+3229+242 = 83967 ≠ 87196" in table
    assert '<a href="#finding-3">30家</a>' in html  # highlighted in the text view
    assert "35150万元 ÷ 46660万元 = 75.33%" in html  # the confirmed arithmetic is listed
    assert SensitiveWord.objects.count() == 0  # checking stores nothing


def test_htmx_post_answers_only_the_results(client, world):
    client.force_login(world.users[Role.STAFF])
    response = client.post(reverse("checker:check"), {"text": "受理64起,结案65起。"}, HTTP_HX_REQUEST="true")
    html = page(response)
    assert html.lstrip().startswith('<div id="check-results">')
    assert "<html" not in html and "65起" in html


def test_an_empty_form_says_what_is_missing(client, world):
    client.force_login(world.users[Role.STAFF])
    response = client.post(reverse("checker:check"), {"text": "  "})
    assert response.status_code == 400 and "请粘贴文本或上传文件" in page(response)


def test_a_bad_upload_is_refused_by_content(client, world):
    client.force_login(world.users[Role.STAFF])
    upload = SimpleUploadedFile("总结.docx", b"%PDF-1.4 not a word file", content_type="application/pdf")
    response = client.post(reverse("checker:check"), {"file": upload})
    assert response.status_code == 400 and "仅支持 .docx" in page(response)


def test_uploaded_docx_downloads_annotated_with_its_text_unchanged(client, world):
    client.force_login(world.users[Role.COMMUNITY_WORKER])
    paragraphs = SEED_TEXT.split("\n")
    upload = SimpleUploadedFile("2021总结.docx", docx_bytes(paragraphs))
    response = client.post(reverse("checker:check"), {"file": upload, "action": "docx"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    assert "filename*=UTF-8''2021%E6%80%BB%E7%BB%93-" in response["Content-Disposition"]
    document = Document(io.BytesIO(response.content))
    assert [p.text for p in docx_paragraphs(document)] == paragraphs
    assert len(list(document.comments)) == 6


def test_gb18030_text_upload(client, world):
    client.force_login(world.users[Role.STAFF])
    upload = SimpleUploadedFile("总结.txt", "受理各类涉稳案件64起,结案65起。".encode("gb18030"))
    html = page(client.post(reverse("checker:check"), {"file": upload}))
    assert "65 &gt; 64" in html


# --- the lexicon ------------------------------------------------------------------------------

def test_lexicon_pages_are_the_sysadmins(client, world):
    for role in (Role.STAFF, Role.LEADER, Role.SECADMIN, Role.AUDITOR):
        client.force_login(world.users[role])
        assert client.get(reverse("checker:lexicon")).status_code == 404
        assert client.post(reverse("checker:word_add"), {"word": "x"}).status_code == 404
    client.force_login(world.users[Role.SYSADMIN])
    response = client.get(reverse("checker:lexicon"))
    assert response.status_code == 200 and 'data-nav="checker_lexicon"' in page(response)


def test_adding_a_word_is_audited_and_used_by_the_checker(client, world):
    admin = world.users[Role.SYSADMIN]
    client.force_login(admin)
    response = client.post(reverse("checker:word_add"), {
        "word": "维稳对象", "category": WordCategory.SENSITIVE, "note": "宜用“重点关注人员”",
        "unit": world.street.pk})
    assert response.status_code == 302
    entry = SensitiveWord.objects.get(word="维稳对象")
    assert entry.org_unit == world.street and entry.created_by == admin
    event = AuditEvent.objects.get(event_type="checker.word_add")
    assert event.actor == admin and event.target_id == str(entry.pk) and event.org_unit == world.street

    client.force_login(world.users[Role.STAFF])
    html = page(client.post(reverse("checker:check"), {"text": "对维稳对象开展走访。"}))
    assert "词库中的敏感词“维稳对象”" in html and "宜用“重点关注人员”" in html
    # Another street's staff do not get 朝农街道's word.
    client.force_login(world.other[Role.STAFF])
    assert "维稳对象”" not in page(client.post(reverse("checker:check"), {"text": "对维稳对象开展走访。"}))


def test_a_duplicate_word_is_refused_with_a_message(client, world):
    client.force_login(world.users[Role.SYSADMIN])
    data = {"word": "机密", "category": WordCategory.SENSITIVE, "unit": world.street.pk}
    client.post(reverse("checker:word_add"), data)
    response = client.post(reverse("checker:word_add"), data)
    assert response.status_code == 400 and "已在朝农街道的词库中" in page(response)
    assert SensitiveWord.objects.filter(word="机密").count() == 1


def test_a_word_cannot_be_added_to_another_streets_lexicon(client, world):
    client.force_login(world.users[Role.SYSADMIN])
    response = client.post(reverse("checker:word_add"), {
        "word": "机密", "category": WordCategory.SENSITIVE, "unit": world.other_street.pk})
    assert response.status_code == 400 and not SensitiveWord.objects.exists()


def test_deleting_a_word_is_audited_and_scoped(client, world):
    by = Actor.system("test")
    mine = services.word_add(by=by, unit=world.street, word="内部资料")
    theirs = services.word_add(by=by, unit=world.other_street, word="内部资料")
    client.force_login(world.users[Role.SYSADMIN])
    assert client.post(reverse("checker:word_delete", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("checker:word_delete", args=[mine.pk])).status_code == 302
    assert list(SensitiveWord.objects.all()) == [theirs]
    assert AuditEvent.objects.filter(event_type="checker.word_delete", target_id=str(mine.pk)).exists()
    listing = page(client.get(reverse("checker:lexicon")))
    assert "内部资料" not in listing.split('id="word-table"', 1)[1]


def test_importing_a_text_list(client, world):
    client.force_login(world.users[Role.SYSADMIN])
    services.word_add(by=Actor.system("test"), unit=world.street, word="机密")
    body = "# 词表\n机密\n绝密\n敏感词,请谨慎使用\t过滤提示\t过滤器留下的\n绝密\n".encode("gb18030")
    response = client.post(reverse("checker:words_import"), {
        "file": SimpleUploadedFile("words.txt", body), "unit": world.street.pk}, follow=True)
    assert "新增 2 个词,跳过重复 2 个" in page(response)
    assert SensitiveWord.objects.get(word="敏感词,请谨慎使用").category == WordCategory.FILTER_NOTICE
    event = AuditEvent.objects.get(event_type="checker.words_import")
    assert event.changes["added"] == 2 and event.changes["words"] == ["敏感词,请谨慎使用", "绝密"]


def test_importing_an_xlsx_list_and_a_bad_row_rejects_the_whole_file(client, world):
    client.force_login(world.users[Role.SYSADMIN])

    def workbook(rows):
        book = openpyxl.Workbook()
        sheet = book.active
        sheet.append(["词语", "类别", "说明"])
        for row in rows:
            sheet.append(row)
        out = io.BytesIO()
        book.save(out)
        return SimpleUploadedFile("words.xlsx", out.getvalue())

    bad = workbook([["机密", "敏感词", ""], ["绝密", "不存在的类别", ""]])
    response = client.post(reverse("checker:words_import"), {"file": bad, "unit": world.street.pk})
    assert response.status_code == 400 and "第 3 行" in page(response) and "类别" in page(response)
    assert not SensitiveWord.objects.exists()
    assert not AuditEvent.objects.filter(event_type="checker.words_import").exists()

    good = workbook([["机密", "敏感词", ""], ["(检查)", "编辑标记", "审稿标记"]])
    client.post(reverse("checker:words_import"), {"file": good, "unit": world.street.pk})
    assert dict(SensitiveWord.objects.values_list("word", "category")) == {
        "机密": WordCategory.SENSITIVE, "(检查)": WordCategory.EDIT_MARK}


def test_lexicon_cache_follows_changes(world):
    staff = world.users[Role.STAFF]
    assert len(services.lexicon_for(staff)) == 0
    services.word_add(by=Actor.system("test"), unit=world.street, word="机密")
    assert [w.word for w in services.lexicon_for(staff).words] == ["机密"]
    assert len(services.lexicon_for(world.other[Role.STAFF])) == 0
    assert len(services.lexicon_for(world.users[Role.DISTRICT_VIEWER])) == 1  # above the street
    assert len(services.lexicon_for(None)) == 1  # the CLI: every word


def test_demo_lexicon_is_idempotent(world):
    by = Actor.system("demo")
    lines = demo.load(by, world.units)
    count = SensitiveWord.objects.count()
    assert count >= 5 and lines
    demo.load(by, world.units)
    assert SensitiveWord.objects.count() == count
    notice = SensitiveWord.objects.get(word="敏感词,请谨慎使用")
    assert notice.category == WordCategory.FILTER_NOTICE


# --- JSON API --------------------------------------------------------------------------------

def api_client(client, world, role):
    _row, plain = tokens.issue(Actor.system("test"), world.users[role], "checker")
    return {"HTTP_AUTHORIZATION": f"Bearer {plain}"}


def test_api_checks_json_text(client, world):
    headers = api_client(client, world, Role.STAFF)
    response = client.post("/api/checker/check", json.dumps({"text": SEED_TEXT}),
                           content_type="application/json", **headers)
    assert response.status_code == 200
    data = response.json()
    assert [f["arithmetic"] for f in data["findings"] if f["kind"] == "sum_mismatch"] == [
        "10+5+8+7+1 = 31 ≠ 30", "5+2+1 = 8 ≠ 7", "42345+38151+3229+242 = 83967 ≠ 87196"]
    first = data["findings"][0]
    assert SEED_TEXT.split("\n")[first["paragraph"]][first["start"]:first["end"]] == first["quote"]
    assert data["paragraph_count"] == len(SEED_TEXT.split("\n"))


def test_api_checks_an_uploaded_file(client, world):
    headers = api_client(client, world, Role.LEADER)
    upload = SimpleUploadedFile("a.docx", docx_bytes(["受理各类涉稳案件64起,结案65起。"]))
    response = client.post("/api/checker/check", {"file": upload}, **headers)
    assert response.status_code == 200
    assert [f["quote"] for f in response.json()["findings"]] == ["65起"]


def test_api_errors_are_400_with_the_field(client, world):
    headers = api_client(client, world, Role.STAFF)
    response = client.post("/api/checker/check", json.dumps({"text": ""}), content_type="application/json",
                           **headers)
    assert response.status_code == 400 and response.json()["field"] == "text"
    upload = SimpleUploadedFile("a.pdf", b"%PDF-1.4")
    response = client.post("/api/checker/check", {"file": upload}, **headers)
    assert response.status_code == 400 and response.json()["field"] == "file"


def test_api_refuses_non_checkers_with_404(client, world):
    headers = api_client(client, world, Role.RESIDENT)
    response = client.post("/api/checker/check", json.dumps({"text": "x"}), content_type="application/json",
                           **headers)
    assert response.status_code == 404


# --- the command ------------------------------------------------------------------------------

def test_check_command_exit_code_and_json(tmp_path, capsys, db):
    with pytest.raises(SystemExit) as exit_info:
        call_command("check", str(SEED), "--json")
    assert exit_info.value.code == 1
    data = json.loads(capsys.readouterr().out)
    assert len(data["findings"]) == 6 and data["findings"][2]["arithmetic"] == "10+5+8+7+1 = 31 ≠ 30"

    clean = tmp_path / "clean.txt"
    clean.write_text("受理各类涉稳案件64起,结案64起。", encoding="utf-8")
    call_command("check", str(clean))  # no findings: returns normally (exit code 0)
    assert "共 0 处问题" in capsys.readouterr().out


def test_check_command_writes_the_annotated_docx(tmp_path, db):
    out = tmp_path / "out.docx"
    with pytest.raises(SystemExit):
        call_command("check", str(SEED), "--docx", str(out))
    document = Document(str(out))
    assert len(list(document.comments)) == 6
    assert [p.text for p in docx_paragraphs(document)] == SEED_TEXT.split("\n")


def test_check_command_uses_an_extra_word_list(tmp_path, capsys, db):
    words = tmp_path / "words.txt"
    words.write_text("扫黑除恶\n", encoding="utf-8")
    text = tmp_path / "t.txt"
    text.write_text("荣获扫黑除恶先进单位。", encoding="utf-8")
    with pytest.raises(SystemExit):
        call_command("check", str(text), "--lexicon", str(words))
    assert "扫黑除恶" in capsys.readouterr().out


def test_openapi_documents_both_request_bodies(client, world):
    client.force_login(world.users[Role.STAFF])
    schema = client.get("/api/openapi.json").json()
    operation = schema["paths"]["/api/checker/check"]["post"]
    assert set(operation["requestBody"]["content"]) == {"application/json", "multipart/form-data"}
    assert {"200", "400", "404"} <= set(operation["responses"])

"""In Chromium: import a file with errors, download the error report, import the corrected file,
find the rows in the list, and reveal one ID number (audited)."""

import io
import os
from pathlib import Path

import openpyxl
import pytest
from django.test import override_settings

from jiedao.audit.models import AuditEvent
from jiedao.ledgers.models import Resident
from tests.browsing import SHOTS, sign_in

from .test_ledgers_import import RESIDENT_HEADER, book, fake_id

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # sync Playwright + live_server

pytestmark = pytest.mark.browser
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"




def upload(page, base_url, name, data):
    page.goto(f"{base_url}/ledgers/residents/import/")
    page.set_input_files("input[name=file]", files=[{"name": name, "mimeType": XLSX, "buffer": data}])
    page.select_option("select[name=org_unit]", label="兰宫路社区(社区)")
    page.click("button[type=submit].btn-primary")
    page.wait_for_selector("#run-status[data-status=refused], #run-status[data-status=checked]")


@override_settings(TASKS={"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}})
def test_import_with_errors_then_corrected(live_server, world, page):
    SHOTS.mkdir(exist_ok=True)
    page.set_viewport_size({"width": 1366, "height": 900})
    sign_in(page, live_server.url, "shequ", world.password)
    rows = [
        ["演示甲", fake_id(seq=901), "13900009001", "青少年"],
        ["演示乙", 360103198001019021, "", "困难群众"],  # stored as a number: precision lost
        ["演示丙", fake_id(seq=903), "1390000", "外星人"],
    ]
    upload(
        page, live_server.url, "名册-有错.xlsx", book([RESIDENT_HEADER, *rows], title="兰宫路社区服务对象")
    )
    assert page.locator("#run-status").get_attribute("data-status") == "refused"
    assert page.locator("table.errors tbody tr").count() == 3
    page.screenshot(path=str(SHOTS / "ledgers-import-refused.png"), full_page=True)
    with page.expect_download() as download_info:
        page.click("#error-report")
    assert download_info.value.suggested_filename.endswith(".xlsx")
    report = openpyxl.load_workbook(io.BytesIO(Path(download_info.value.path()).read_bytes())).worksheets[0]
    found = [(r[0], r[1]) for r in report.iter_rows(min_row=2, values_only=True)]
    assert found == [(4, "公民身份号码"), (5, "人群类别"), (5, "手机号")]  # row 1 is the title
    assert Resident.objects.count() == 0

    rows[1][1] = fake_id(seq=902)
    rows[2][2:] = ["13900009003", "困难群众"]
    upload(
        page, live_server.url, "名册-已改.xlsx", book([RESIDENT_HEADER, *rows], title="兰宫路社区服务对象")
    )
    assert page.locator("#run-status").get_attribute("data-status") == "checked"
    assert page.locator("table.preview tbody tr").count() == 3
    page.screenshot(path=str(SHOTS / "ledgers-import-preview.png"), full_page=True)
    page.click("#confirm-import")
    page.wait_for_selector("#run-status[data-status=done]")
    page.screenshot(path=str(SHOTS / "ledgers-import-done.png"), full_page=True)
    page.click("#to-list")
    page.wait_for_selector("table.ledger-table")
    body = page.locator("table.ledger-table tbody").inner_text()
    for name in ("演**",):
        assert body.count(name) == 3
    assert fake_id(seq=902) not in page.content()
    assert fake_id(seq=902)[:6] + "********" + fake_id(seq=902)[-4:] in body
    page.fill("#id_q", "演示丙")
    page.wait_for_function("document.querySelectorAll('table.ledger-table tbody tr').length === 1")
    page.screenshot(path=str(SHOTS / "ledgers-list.png"), full_page=True)

    page.click("table.ledger-table tbody a")
    page.wait_for_selector("[data-reveal=id_number]")
    page.click("[data-reveal=id_number]")
    page.wait_for_selector("[data-revealed=id_number]")
    assert page.locator("[data-revealed=id_number]").inner_text() == fake_id(seq=903)
    page.screenshot(path=str(SHOTS / "ledgers-resident-revealed.png"), full_page=True)
    assert AuditEvent.objects.filter(event_type="ledgers.reveal", actor__username="shequ").count() == 1
    assert Resident.objects.filter(org_unit__code="360103012001").count() == 3


def test_demo_ledgers_look_right(live_server, world, page):
    """Screenshots of the demo's project, relocation and integrity pages (looked at by a person)."""
    from jiedao.audit.trail import Actor
    from jiedao.ledgers import demo
    from jiedao.ledgers.models import Project, RelocationHousehold

    SHOTS.mkdir(exist_ok=True)
    demo.load(Actor.system("demo"), world.units)
    page.set_viewport_size({"width": 1366, "height": 900})
    sign_in(page, live_server.url, "lingdao", world.password)
    page.goto(f"{live_server.url}/ledgers/")
    assert page.locator("[data-ledger]").count() == 5
    page.screenshot(path=str(SHOTS / "ledgers-index.png"), full_page=True)
    project = Project.objects.get(name="中粮大悦城")
    page.goto(f"{live_server.url}/ledgers/projects/{project.pk}/")
    assert page.locator("[data-milestone=started]").inner_text().count("2021-03-18") == 2
    page.screenshot(path=str(SHOTS / "ledgers-project.png"), full_page=True)
    page.goto(f"{live_server.url}/ledgers/households/?stage=assessed")
    assert page.locator("table.ledger-table tbody tr").count() == RelocationHousehold.objects.filter(
        stage="assessed").count()
    page.screenshot(path=str(SHOTS / "ledgers-households.png"), full_page=True)
    household = RelocationHousehold.objects.get(household_no="005")
    page.goto(f"{live_server.url}/ledgers/households/{household.pk}/")
    assert page.locator(".stage-current").inner_text() == "选房"
    page.screenshot(path=str(SHOTS / "ledgers-household.png"), full_page=True)
    page.click("form[action$='/accounts/logout/'] button")
    sign_in(page, live_server.url, "jiwei", world.password)
    page.goto(f"{live_server.url}/ledgers/integrity/")
    assert page.locator("table.data tbody tr").count() == 2
    page.click("table.data tbody a >> nth=0")
    page.wait_for_selector("[data-kind=study]")
    page.screenshot(path=str(SHOTS / "ledgers-integrity.png"), full_page=True)

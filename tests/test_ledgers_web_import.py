"""The import pages (upload → check → preview → confirm, progress polled) and the CLI commands."""

import io

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse

from jiedao.accounts.roles import Role
from jiedao.audit.models import AuditEvent
from jiedao.ledgers.models import ImportRun, ImportStatus, Resident

from .test_ledgers_import import RESIDENT_HEADER, book, fake_id

IMMEDIATE = override_settings(
    TASKS={"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
)


def upload(client, world, data, name="名册.xlsx"):
    return client.post(
        reverse("ledgers:import", args=["residents"]),
        {"file": SimpleUploadedFile(name, data), "org_unit": world.units["360103012001"].pk},
    )


@IMMEDIATE
def test_upload_preview_confirm(world, client):
    client.force_login(world.users[Role.COMMUNITY_WORKER])
    data = book(
        [
            RESIDENT_HEADER,
            ["演示甲", fake_id(seq=1), "13900001111", "青少年"],
            ["演示乙", fake_id(seq=2), "", ""],
        ]
    )
    response = upload(client, world, data)
    run = ImportRun.objects.get()
    assert response.status_code == 302 and response.url == reverse("ledgers:import_run", args=[run.pk])
    assert run.status == ImportStatus.CHECKED and run.created_count == 2 and Resident.objects.count() == 0
    page = client.get(response.url).content.decode()
    assert "确认导入" in page and "演**" in page and fake_id(seq=1) not in page  # the preview is masked
    progress = client.get(reverse("ledgers:import_progress", args=[run.pk]), HTTP_HX_REQUEST="true")
    assert 'id="run-status"' in progress.content.decode() and "every 1s" not in progress.content.decode()
    client.post(reverse("ledgers:import_confirm", args=[run.pk]))
    run.refresh_from_db()
    assert run.status == ImportStatus.DONE and Resident.objects.count() == 2
    assert set(Resident.objects.values_list("org_unit__code", flat=True)) == {"360103012001"}
    event = AuditEvent.objects.get(event_type="ledgers.resident_import")
    assert event.actor == world.users[Role.COMMUNITY_WORKER] and event.changes["created"] == 2
    # confirming twice does not import twice
    client.post(reverse("ledgers:import_confirm", args=[run.pk]))
    assert Resident.objects.count() == 2


@IMMEDIATE
def test_refused_upload_offers_the_error_report(world, client):
    client.force_login(world.users[Role.COMMUNITY_WORKER])
    data = book([RESIDENT_HEADER, ["演示甲", 360103198001010011, "", ""], ["", fake_id(seq=3), "", ""]])
    upload(client, world, data)
    run = ImportRun.objects.get()
    assert run.status == ImportStatus.REFUSED and run.error_count == 2
    page = client.get(reverse("ledgers:import_run", args=[run.pk])).content.decode()
    assert "存成了数字" in page and "必填" in page and "确认导入" not in page
    report = client.get(reverse("ledgers:import_errors", args=[run.pk]))
    rows = list(openpyxl.load_workbook(io.BytesIO(report.content)).worksheets[0].iter_rows(values_only=True))
    assert rows[0] == ("行号", "列", "值", "原因")
    assert [(r[0], r[1]) for r in rows[1:]] == [(2, "公民身份号码"), (3, "姓名")]
    assert client.post(reverse("ledgers:import_confirm", args=[run.pk])).status_code == 302
    assert Resident.objects.count() == 0
    # someone else's run is a 404
    client.force_login(world.users[Role.LEADER])
    assert client.get(reverse("ledgers:import_run", args=[run.pk])).status_code == 404
    assert client.get(reverse("ledgers:import_errors", args=[run.pk])).status_code == 404


@IMMEDIATE
def test_importing_into_a_unit_out_of_scope_is_refused(world, client):
    client.force_login(world.users[Role.COMMUNITY_WORKER])
    response = client.post(
        reverse("ledgers:import", args=["residents"]),
        {
            "file": SimpleUploadedFile("a.xlsx", book([RESIDENT_HEADER])),
            "org_unit": world.units["360103012002"].pk,
        },
    )
    assert response.status_code == 200 and not ImportRun.objects.exists()


def test_template_download_has_dropdowns(world, client):
    client.force_login(world.users[Role.LEADER])
    response = client.get(reverse("ledgers:template", args=["households"]))
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).worksheets[0]
    headers = [c.value for c in sheet[2]]
    assert headers[:3] == ["地块编号*", "户号*", "户主姓名*"]
    formulas = {str(dv.sqref).split(":")[0][0]: dv.formula1 for dv in sheet.data_validations.dataValidation}
    letter = "ABCDEFGHIJKL"[headers.index("阶段*")]
    assert letter in formulas and "可选值" in formulas[letter]
    lists = openpyxl.load_workbook(io.BytesIO(response.content)).worksheets[1]
    column = [c.value for c in lists[formulas[letter].split("$")[1]]]
    assert column == ["阶段", "认定", "选房", "签约", "结算", "回迁"]


def test_cli_import_refuses_with_errors_and_exit_1(world, tmp_path, capsys):
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(book([RESIDENT_HEADER, ["演示甲", "123", "", ""]]))
    with pytest.raises(SystemExit) as exit_info:
        call_command("import", "residents", str(bad), "--no-progress")
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "导入被拒绝" in err and "2\t公民身份号码\t123\t身份号码应为 18 位" in err
    assert Resident.objects.count() == 0


def test_cli_import_and_export(world, tmp_path, capsys):
    good = tmp_path / "good.xlsx"
    good.write_bytes(book([RESIDENT_HEADER, ["演示甲", fake_id(seq=5), "13900005555", "困难群众"]]))
    call_command("import", "residents", str(good), "--unit", "360103012001", "--no-progress")
    assert "新增 1" in capsys.readouterr().out
    call_command("import", "residents", str(good), "--unit", "360103012001", "--no-progress")
    assert "新增 0" in capsys.readouterr().out and Resident.objects.count() == 1
    out = tmp_path / "out.xlsx"
    call_command("export", "residents", str(out))
    rows = list(openpyxl.load_workbook(out).worksheets[0].iter_rows(values_only=True))
    assert rows[1][0] == "演**" and rows[1][1].endswith(fake_id(seq=5)[-4:]) and "*" in rows[1][1]


def test_cli_import_as_a_user_is_held_to_their_scope(world, tmp_path):
    from django.core.management.base import CommandError

    good = tmp_path / "good.xlsx"
    good.write_bytes(book([RESIDENT_HEADER, ["演示甲", fake_id(seq=6), "", ""]]))
    with pytest.raises(CommandError):
        call_command(
            "import", "residents", str(good), "--unit", "360103012002", "--as", "shequ", "--no-progress"
        )
    call_command("import", "residents", str(good), "--unit", "360103012001", "--as", "shequ", "--no-progress")
    event = AuditEvent.objects.get(event_type="ledgers.resident_import")
    assert event.actor == world.users[Role.COMMUNITY_WORKER]

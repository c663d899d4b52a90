"""The import/export engine: template → fill → import → export, and every kind of bad input."""

import io
import zipfile
from decimal import Decimal

import openpyxl
from stdnum.cn import ric, uscc

from jiedao.audit.models import AuditEvent
from jiedao.audit.trail import Actor
from jiedao.ledgers import engine
from jiedao.ledgers.importer import import_file
from jiedao.ledgers.models import Building, Enterprise, Project, RelocationHousehold, Resident
from jiedao.ledgers.specs import get_spec

BY = Actor.system("test")


def fake_id(region="360103", birth="19800101", seq=1) -> str:
    base = f"{region}{birth}{seq:03d}"
    return base + ric.calc_check_digit(base + "0")


def fake_code(n: int) -> str:
    base = f"9136010{n:010d}"[:17]
    return base + uscc.calc_check_digit(base)


def book(rows, title=None) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    if title:
        sheet.append([title])
        sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=max(len(r) for r in rows))
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def fill_template(ledger: str, rows: list[dict]) -> bytes:
    """Open the downloadable template and fill rows under its header, by header text."""
    workbook = openpyxl.load_workbook(io.BytesIO(engine.template(get_spec(ledger))))
    sheet = workbook.worksheets[0]
    headers = [str(c.value).rstrip("*") for c in sheet[2]]
    for i, row in enumerate(rows, start=3):
        for header, value in row.items():
            cell = sheet.cell(row=i, column=headers.index(header) + 1, value=value)
            if isinstance(value, str):
                cell.number_format = "@"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def read_back(data: bytes) -> list[list]:
    sheet = openpyxl.load_workbook(io.BytesIO(data)).worksheets[0]
    return [list(r) for r in sheet.iter_rows(values_only=True)]


def run(world, ledger, data, unit=None):
    return import_file(ledger, data, unit=unit or world.street, by=BY, filename="t.xlsx")


# --- round trips ------------------------------------------------------------------------------


def test_residents_round_trip(world):
    rows = [
        {
            "姓名": "测试甲",
            "公民身份号码": fake_id(seq=11),
            "手机号": "13900001111",
            "住址": "兰宫路 1 号",
            "人群类别": "青少年、困难群众",
            "所属单位": "兰宫路社区",
        },
        {
            "姓名": "测试乙",
            "公民身份号码": fake_id(birth="19400203", seq=22),
            "人群类别": "80岁以上户籍老人",
            "所属单位": "360103012002",
        },
    ]
    result, counts = run(world, "residents", fill_template("residents", rows))
    assert result.errors == [] and counts["created"] == 2
    first = Resident.objects.get(id_number=fake_id(seq=11))
    assert first.org_unit == world.units["360103012001"] and first.gender == "male"
    assert sorted(first.group_codes) == ["needy", "youth"]
    assert Resident.objects.get(id_number=fake_id(birth="19400203", seq=22)).org_unit.code == "360103012002"
    # one batch event plus one summary, no event per row
    assert AuditEvent.objects.filter(event_type="ledgers.resident_import_batch").count() == 1
    assert AuditEvent.objects.filter(event_type="ledgers.resident_import").count() == 1
    # re-running the same file creates nothing
    result, counts = run(world, "residents", fill_template("residents", rows))
    assert counts == {"created": 0, "updated": 0, "unchanged": 2, "total": 2}
    assert Resident.objects.count() == 2
    # export is masked
    exported = read_back(engine.export(get_spec("residents"), Resident.objects.all()))
    header = exported[0]
    assert header[:2] == ["姓名", "公民身份号码"]
    row = exported[1]
    assert row[0] == "测**" and row[1] == "360103********" + fake_id(seq=11)[-4:]
    assert row[header.index("手机号")] == "139****1111"
    assert row[header.index("人群类别")] in ("青少年、困难群众", "困难群众、青少年")
    assert row[header.index("所属单位")] == "兰宫路社区"


def test_enterprises_round_trip_with_override(world):
    from jiedao.ledgers import services

    services.building_create(by=BY, org_unit=world.street, name="博富大厦", status="formed")
    bad_code = fake_code(2)[:-1] + ("0" if fake_code(2)[-1] != "0" else "1")
    rows = [
        {
            "企业名称": "演示建筑有限公司",
            "统一社会信用代码": fake_code(1),
            "类型": "注册企业",
            "行业": "建筑业",
            "联网直报": "是",
            "规上": "是",
            "限上": "否",
            "所在楼宇": "博富大厦",
            "联系人": "演示张三",
            "联系电话": "0791-86123456",
        },
        {
            "企业名称": "早期试点代码企业",
            "统一社会信用代码": bad_code,
            "类型": "个体经营户",
            "行业": "财贸",
            "信用代码豁免理由": "2015年试点时核发,工商档案可查",
        },
    ]
    result, counts = run(world, "enterprises", fill_template("enterprises", rows))
    assert result.errors == [] and counts["created"] == 2
    first = Enterprise.objects.get(credit_code=fake_code(1))
    assert first.building.name == "博富大厦" and first.online_direct_report and first.above_scale
    kept = Enterprise.objects.get(credit_code=bad_code)
    assert kept.credit_code_override and "试点" in kept.credit_code_override_reason
    exported = read_back(engine.export(get_spec("enterprises"), Enterprise.objects.order_by("pk")))
    header = exported[0]
    assert exported[1][header.index("统一社会信用代码")] == fake_code(1)
    assert exported[1][header.index("联系人")] == "演***"
    assert exported[1][header.index("联系电话")] == "079******3456"
    assert exported[2][header.index("类型")] == "个体经营户"
    # without the reason the failing code is refused, and nothing is written
    Enterprise.objects.all().delete()
    rows[1].pop("信用代码豁免理由")
    result, counts = run(world, "enterprises", fill_template("enterprises", rows))
    assert counts is None and Enterprise.objects.count() == 0
    assert [(e.row, e.column) for e in result.errors] == [(4, "统一社会信用代码")]
    assert "校验位" in result.errors[0].reason


def test_buildings_round_trip(world):
    rows = [
        {"楼宇名称": "国金滨江", "状态": "已成型", "建筑面积(平方米)": "68,000", "地址": "赣江中大道1号"},
        {"楼宇名称": "富润大厦", "状态": "正在形成"},
    ]
    result, counts = run(world, "buildings", fill_template("buildings", rows))
    assert counts["created"] == 2
    assert Building.objects.get(name="国金滨江").floor_area == Decimal("68000")
    exported = read_back(engine.export(get_spec("buildings"), Building.objects.order_by("name")))
    assert exported[0][:2] == ["楼宇名称", "状态"]
    assert {tuple(r[:2]) for r in exported[1:]} == {("国金滨江", "已成型"), ("富润大厦", "正在形成")}
    # an edited status updates the existing row instead of adding one
    rows[1]["状态"] = "已成型"
    result, counts = run(world, "buildings", fill_template("buildings", rows))
    assert (counts["created"], counts["updated"], counts["unchanged"]) == (0, 1, 1)
    assert Building.objects.get(name="富润大厦").status == "formed"


def test_projects_round_trip_with_milestones_and_months(world):
    rows = [
        {
            "项目名称": "中粮大悦城",
            "类型": "重大项目",
            "年度": 2021,
            "年度计划投资(万元)": 9000,
            "新开工日期": "2021年3月18日",
            "封顶日期": 44561,
            "3月完成投资(万元)": "800.50",
            "4月完成投资(万元)": 900,
        }
    ]
    result, counts = run(world, "projects", fill_template("projects", rows))
    assert result.errors == [], result.errors
    project = Project.objects.get(name="中粮大悦城")
    assert {m.kind: str(m.actual_date) for m in project.milestones.all()} == {
        "started": "2021-03-18",
        "topped_out": "2021-12-31",
    }
    assert project.completed_investment == Decimal("1700.50")
    exported = read_back(engine.export(get_spec("projects"), Project.objects.all()))
    header, row = exported[0], exported[1]
    assert row[header.index("3月完成投资(万元)")] == 800.5
    assert row[header.index("累计完成投资(万元)")] == 1700.5
    assert str(row[header.index("新开工日期")])[:10] == "2021-03-18"
    result, counts = run(world, "projects", fill_template("projects", rows))
    assert counts["unchanged"] == 1 and project.investments.count() == 2


def test_households_round_trip_creates_the_plot(world):
    rows = [
        {
            "地块编号": "CY203-B07",
            "户号": "001",
            "户主姓名": "演示王五",
            "户主身份号码": fake_id(seq=991),
            "产权证类型": "市证",
            "面积(平方米)": "86.4",
            "补偿方式": "市场评估价",
            "阶段": "签约",
        },
        {
            "地块编号": "cy203-b07",
            "户号": "002",
            "户主姓名": "演示赵六",
            "产权证类型": "难以认定",
            "面积(平方米)": 41.2,
            "阶段": "认定",
            "难点问题": "继承人未确定",
        },
    ]
    result, counts = run(world, "households", fill_template("households", rows))
    assert result.errors == [] and counts["created"] == 2
    households = RelocationHousehold.objects.order_by("household_no")
    assert {h.plot.code for h in households} == {"CY203-B07"}
    assert households[0].area == Decimal("86.40") and households[1].stage == "assessed"
    exported = read_back(engine.export(get_spec("households"), households))
    header = exported[0]
    assert exported[1][header.index("户主姓名")] == "演***"
    assert exported[1][header.index("户主身份号码")] == mask(fake_id(seq=991))
    assert exported[2][header.index("阶段")] == "认定"


def mask(id_number):
    from jiedao.core.masking import mask_id

    return mask_id(id_number)


# --- bad input: each case its own file, its named error, and no write -------------------------------

RESIDENT_HEADER = ["姓名", "公民身份号码", "手机号", "人群类别"]


def refused(world, data, ledger="residents"):
    result, counts = run(world, ledger, data)
    assert counts is None, "the file should have been refused"
    assert Resident.objects.count() == 0
    return result.errors


def test_missing_required_column_is_named(world):
    errors = refused(world, book([["姓名", "手机号"], ["测试甲", "13900001111"]]))
    assert [(e.column, e.reason[:8]) for e in errors] == [("公民身份号码", "缺少必填列“公民")]


def test_renamed_columns_and_merged_title_row_are_understood(world):
    data = book(
        [
            ["身份证号", "居民姓名", "联系电话", "现住址"],
            [fake_id(seq=31), "测试甲", "139 0000 1111", "兰宫路"],
        ],
        title="2021年朝农街道服务对象花名册",
    )
    result, counts = run(world, "residents", data)
    assert result.errors == [] and result.header_row == 2 and counts["created"] == 1
    resident = Resident.objects.get()
    assert (resident.name, resident.phone, resident.address) == ("测试甲", "13900001111", "兰宫路")


def test_no_header_at_all(world):
    errors = refused(world, book([["a", "b"], [1, 2]]))
    assert "找不到表头" in errors[0].reason


def test_id_number_stored_as_a_number_is_an_error(world):
    data = book([RESIDENT_HEADER, ["测试甲", int(fake_id(seq=33)[:17] + "1"), "", ""]])
    errors = refused(world, data)
    assert [(e.row, e.column) for e in errors] == [(2, "公民身份号码")]
    assert "存成了数字" in errors[0].reason


def test_full_width_digits_and_stray_spaces_are_normalised(world):
    wide = fake_id(seq=44).translate(str.maketrans("0123456789X", "０１２３４５６７８９Ｘ"))
    data = book(
        [RESIDENT_HEADER, ["  测试　甲 ", f" {wide} ", "１３９００００１１１１", " 青少年 、困难群众 "]]
    )
    result, counts = run(world, "residents", data)
    assert result.errors == [], result.errors
    resident = Resident.objects.get()
    assert (resident.name, resident.id_number, resident.phone) == ("测试 甲", fake_id(seq=44), "13900001111")
    assert sorted(resident.group_codes) == ["needy", "youth"]


def test_bad_values_are_all_reported_with_row_column_and_reason(world):
    data = book(
        [
            RESIDENT_HEADER,
            ["测试甲", fake_id(seq=51), "12345", "青少年"],
            ["", fake_id(seq=51)[:-1] + ("1" if fake_id(seq=51)[-1] != "1" else "2"), "", "外星人"],
            ["测试丙", fake_id(seq=53), "", ""],
        ]
    )
    errors = refused(world, data)
    found = {(e.row, e.column) for e in errors}
    assert found == {(2, "手机号"), (3, "姓名"), (3, "公民身份号码"), (3, "人群类别")}
    reasons = {(e.row, e.column): e.reason for e in errors}
    assert "校验位" in reasons[(3, "公民身份号码")] and "不在可选值中" in reasons[(3, "人群类别")]
    report = read_back(engine.error_report(errors))
    assert report[0] == ["行号", "列", "值", "原因"] and len(report) == 5
    assert report[1][0] == 2 and report[1][2] == "12345"


def test_duplicates_inside_the_file(world):
    data = book(
        [
            RESIDENT_HEADER,
            ["测试甲", fake_id(seq=61), "", ""],
            ["测试乙", fake_id(seq=62), "", ""],
            ["测试甲", fake_id(seq=61), "", ""],
        ]
    )
    errors = refused(world, data)
    assert [(e.row, e.reason) for e in errors] == [(4, "与文件第 2 行重复")]


def test_duplicate_against_another_streets_record_is_refused(world):
    from jiedao.ledgers import services

    services.resident_create(by=BY, org_unit=world.other_street, name="外街甲", id_number=fake_id(seq=71))
    data = book([RESIDENT_HEADER, ["测试甲", fake_id(seq=71), "", ""], ["测试乙", fake_id(seq=72), "", ""]])
    user = world.users["leader"]
    result, counts = import_file("residents", data, unit=world.street, by=Actor(user=user), user=user)
    assert counts is None and Resident.objects.count() == 1
    assert result.errors[0].row == 2 and "南浦街道" in result.errors[0].reason


def test_dates_as_text_serials_and_date_cells(world):
    import datetime as dt

    data = book(
        [
            ["项目名称", "类型", "年度", "年度计划投资(万元)", "新开工日期", "封顶日期", "交付日期"],
            ["甲", "重大项目", 2021, 100, "2021/3/8", 44300, dt.datetime(2021, 12, 1)],
            ["乙", "重大项目", 2021, 100, "2021-02-30", "", ""],
        ]
    )
    result, counts = run(world, "projects", data)
    assert counts is None and Project.objects.count() == 0
    assert [(e.row, e.column) for e in result.errors] == [(3, "新开工日期")]
    assert "无法识别" in result.errors[0].reason
    data = book(
        [
            ["项目名称", "类型", "年度", "年度计划投资(万元)", "新开工日期", "封顶日期", "交付日期"],
            ["甲", "重大项目", 2021, 100, "2021/3/8", 44300, dt.datetime(2021, 12, 1)],
        ]
    )
    result, counts = run(world, "projects", data)
    dates = {m.kind: m.actual_date.isoformat() for m in Project.objects.get().milestones.all()}
    assert dates == {"started": "2021-03-08", "topped_out": "2021-04-14", "delivered": "2021-12-01"}


def test_not_an_xlsx(world):
    errors = refused(world, "姓名,公民身份号码\n张三,1\n".encode())
    assert errors[0].column == "文件" and "不是有效的 .xlsx" in errors[0].reason
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "hello")
    assert "不是有效的 .xlsx" in refused(world, buffer.getvalue())[0].reason


def test_oversized_file(world, monkeypatch):
    from jiedao.ledgers import xlsx

    monkeypatch.setattr(xlsx, "MAX_UPLOAD_BYTES", 1000)
    errors = refused(world, book([RESIDENT_HEADER, ["测试甲", fake_id(seq=81), "", ""]] * 20))
    assert "文件过大" in errors[0].reason


def test_zip_bomb_is_refused_before_inflating(world):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * 30_000_000)
    data = buffer.getvalue()
    assert len(data) < 200_000
    errors = refused(world, data)
    assert "压缩炸弹" in errors[0].reason


def test_all_or_nothing_and_batches(world, monkeypatch):
    monkeypatch.setattr(engine, "BATCH", 100)
    rows = [[f"测试{i}", fake_id(seq=i), "", ""] for i in range(250)]
    bad = rows + [["坏行", "123", "", ""]]
    assert len(refused(world, book([RESIDENT_HEADER, *bad]))) == 1
    result, counts = run(world, "residents", book([RESIDENT_HEADER, *rows]))
    assert counts["created"] == 250 and Resident.objects.count() == 250
    batches = AuditEvent.objects.filter(event_type="ledgers.resident_import_batch").order_by("seq")
    assert [e.changes["count"] for e in batches] == [100, 100, 50]
    assert batches[0].changes["rows"] == [2, 101]


# --- the reader: same values as openpyxl, whatever wrote the file -------------------------------

XLSX_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def raw_xlsx(sheet_data: str, shared: list[str] | None = None, *, prefix: str = "") -> bytes:
    """A minimal package around hand-written <sheetData> XML (and shared strings as <si> XML)."""
    p = f"{prefix}:" if prefix else ""
    ns = f'xmlns{":" + prefix if prefix else ""}="{XLSX_MAIN}"'
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    ct = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    files = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{ct}.sheet.main+xml"/>'
            f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{ct}.worksheet+xml"/>'
            + (f'<Override PartName="/xl/sharedStrings.xml" ContentType="{ct}.sharedStrings+xml"/>'
               if shared is not None else "")
            + "</Types>"
        ),
        "_rels/.rels": (
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            f'<workbook xmlns="{XLSX_MAIN}" xmlns:r="{rel}"><sheets>'
            '<sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{rel}/sharedStrings" Target="sharedStrings.xml"/>'
            "</Relationships>"
        ),
        "xl/worksheets/sheet1.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><{p}worksheet {ns}><{p}sheetData>{sheet_data}'
            f"</{p}sheetData></{p}worksheet>"
        ),
    }
    if shared is not None:
        files["xl/sharedStrings.xml"] = (
            f'<sst xmlns="{XLSX_MAIN}" count="{len(shared)}">{"".join(shared)}</sst>'
        )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text.encode())
    return buffer.getvalue()


def ours(data: bytes) -> dict[int, list]:
    from jiedao.ledgers import xlsx

    out = {}
    for row in xlsx.read_rows(data):
        values = list(row.values)
        while values and values[-1] is None:
            values.pop()
        if values:
            out[row.number] = values
    return out


def theirs(data: bytes) -> dict[int, list]:
    """openpyxl's reading of the same file (read-only, cached values), empty rows left out."""
    workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    out = {}
    for row in workbook.worksheets[0].iter_rows():
        values = [getattr(cell, "value", None) for cell in row]
        number = next((cell.row for cell in row if getattr(cell, "row", None)), None)
        while values and values[-1] in (None, ""):
            values.pop()
        if values and number:
            out[number] = [None if v == "" else v for v in values]
    workbook.close()
    return out


def sample_rows():
    return [
        ["姓名", "公民身份号码", "数", "小数", "真假", "备注"],
        ["张三", "360103198001010011", 13900001111, 3.25, True, "a & b <c> “引号”"],
        ["李四", None, -7, 1e-7, False, "  前后空格  "],
        [None, "仅第二列", None, None, None, None],
        ["王五", "x", 0, 12345678901234.5, None, "&#60; 不是引用"],
    ]


def test_reader_matches_openpyxl_normal_and_write_only_files(monkeypatch):
    from openpyxl import Workbook

    from jiedao.ledgers import xlsx

    rows = sample_rows()
    normal = book(rows, title="标题行(合并)")  # shared strings, a merged title row
    stream = Workbook(write_only=True)  # inline strings, every character a reference
    sheet = stream.create_sheet("S")
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    stream.save(buffer)
    for data in (normal, buffer.getvalue()):
        expected = theirs(data)
        assert ours(data) == expected and len(expected) >= 5
        monkeypatch.setattr(xlsx, "CHUNK", 61)  # rows cut across many small chunks
        assert ours(data) == expected
        monkeypatch.undo()


def test_reader_matches_openpyxl_on_hand_written_xml():
    cases = [
        # gaps in a row, rows with gaps between them, a self-closing row and cell
        '<row r="1"><c r="A1" t="inlineStr"><is><t>甲</t></is></c><c r="D1"><v>4</v></c></row>'
        '<row r="3" spans="1:4"/><row r="5"><c r="B5" s="3"/><c r="C5" s="2"><v>2.5</v></c></row>',
        # no r attributes at all (cells and rows counted)
        '<row><c t="inlineStr"><is><t>a</t></is></c><c><v>1</v></c></row>'
        '<row><c/><c t="b"><v>1</v></c></row>',
        # attributes in another order, extra attributes, formulas with cached values
        '<row r="2" ht="20" customHeight="1"><c s="1" r="A2" t="str"><f>B2&amp;"x"</f><v>yx</v></c>'
        '<c r="B2" t="str" cm="1"><v>y</v></c><c r="C2"><f>1+1</f><v>2</v></c></row>',
        # rich text and xml:space inline strings, entities, a date as text type d
        '<row r="1"><c r="A1" t="inlineStr"><is><r><t>加</t></r>'
        '<r><rPr><b/></rPr><t xml:space="preserve">粗 </t></r></is></c>'
        '<c r="B1" t="inlineStr"><is><t>&lt;&amp;&gt;&#20013;&#x6587;</t></is></c>'
        '<c r="C1" t="d"><v>2021-10-08T00:00:00</v></c><c r="D1" t="n"><v>-3</v></c></row>',
    ]
    for sheet_data in cases:
        data = raw_xlsx(sheet_data)
        assert ours(data) == theirs(data), sheet_data


def test_reader_shared_strings_rich_text_and_phonetics():
    shared = [
        "<si><t>普通</t></si>",
        '<si><r><t>富</t></r><r><rPr><i/></rPr><t xml:space="preserve">文本 </t></r></si>',
        "<si><t>漢字</t><rPh sb=\"0\" eb=\"2\"><t>かんじ</t></rPh></si>",
        "<si><t>&amp;&#21644;</t></si>",
        "<si/>",
    ]
    sheet = (
        '<row r="1">' + "".join(f'<c r="{c}1" t="s"><v>{i}</v></c>' for i, c in enumerate("ABCDE")) + "</row>"
        '<row r="2"><c r="A2" s="4" t="s"><v>1</v></c></row>'
    )
    data = raw_xlsx(sheet, shared)
    assert ours(data) == {1: ["普通", "富文本 ", "漢字", "&和"], 2: ["富文本 "]}
    assert ours(data) == theirs(data)


def test_reader_with_prefixed_namespace():
    sheet = (
        '<x:row r="1"><x:c r="A1" t="inlineStr"><x:is><x:t>姓名</x:t></x:is></x:c>'
        '<x:c r="B1"><x:v>7</x:v></x:c></x:row>'
        '<x:row r="2"><x:c r="B2" t="inlineStr"><x:is><x:t>乙</x:t></x:is></x:c></x:row>'
    )
    data = raw_xlsx(sheet, prefix="x")
    assert ours(data) == {1: ["姓名", 7], 2: [None, "乙"]} == theirs(data)


def test_reader_dates_are_serials_numbers_and_date_cells():
    import datetime as dt

    from openpyxl.utils.datetime import from_excel

    data = book([["日期"], [dt.datetime(2021, 12, 1)], [44300], [dt.date(2021, 3, 8)]])
    got = ours(data)
    # a date-formatted cell arrives as its serial number; parse_date turns it back
    assert [from_excel(got[r][0]) for r in (2, 4)] == [dt.datetime(2021, 12, 1), dt.datetime(2021, 3, 8)]
    assert got[3] == [44300]


# --- speed paths keep the rules -------------------------------------------------------------------


def test_repeated_values_are_parsed_once_but_reported_on_every_row(world, monkeypatch):
    monkeypatch.setattr(engine, "MEMO_LIMIT", 3)  # also exercise the give-up path
    rows = [[f"测试{i}", fake_id(seq=100 + i), "", "青少年、困难群众" if i % 2 else "外星人"]
            for i in range(8)]
    errors = refused(world, book([RESIDENT_HEADER, *rows]))
    assert [(e.row, e.column, e.value) for e in errors] == [(r, "人群类别", "外星人") for r in (2, 4, 6, 8)]
    assert len({e.reason for e in errors}) == 1 and "不在可选值中" in errors[0].reason
    good = [[f"测试{i}", fake_id(seq=100 + i), "", "青少年、困难群众"] for i in range(8)]
    spec = get_spec("residents")
    result = engine.check(spec, book([RESIDENT_HEADER, *good]), engine.Context(world.street, lambda u: True))
    groups = [p.values["groups"] for p in result.plan]
    assert groups == [["youth", "needy"]] * 8
    groups[0].append("changed")  # each row has its own list
    assert result.plan[1].values["groups"] == ["youth", "needy"]


def test_birth_date_today_is_accepted_and_tomorrow_refused(monkeypatch):
    import datetime as dt
    import time

    from jiedao.ledgers import fields

    today = dt.date.today()
    base = f"360103{today:%Y%m%d}001"
    assert fields.parse_id_number(base + ric.calc_check_digit(base + "0"))
    tomorrow = today + dt.timedelta(days=1)
    base = f"360103{tomorrow:%Y%m%d}001"
    try:
        fields.parse_id_number(base + ric.calc_check_digit(base + "0"))
        raise AssertionError("a birth date after today was accepted")
    except ValueError as error:
        assert "不合理" in str(error)
    # the cached "today" follows the clock past midnight
    real = time.time()
    monkeypatch.setattr(time, "time", lambda: real + 86400)
    monkeypatch.setattr(dt, "date", type("D", (dt.date,), {"today": classmethod(lambda c: tomorrow)}))
    assert fields._today_text() == f"{tomorrow:%Y%m%d}"


def test_collector_is_back_on_after_check_and_apply(world):
    import gc

    rows = [[f"测试{i}", fake_id(seq=200 + i), "", ""] for i in range(3)]
    assert gc.isenabled()
    run(world, "residents", book([RESIDENT_HEADER, *rows]))
    assert gc.isenabled()
    result, counts = run(world, "residents", b"not a zip")
    assert counts is None and gc.isenabled()


def test_new_ids_come_back_in_row_order_without_lookups(world, monkeypatch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    monkeypatch.setattr(engine, "BATCH", 40)
    # ID numbers not in sorted order, so row order ≠ key order
    rows = [[f"测试{i}", fake_id(seq=(i * 37) % 101 + 300), "", "青少年"] for i in range(100)]
    spec = get_spec("residents")
    result = engine.check(spec, book([RESIDENT_HEADER, *rows]), engine.Context(world.street, lambda u: True))
    assert result.ok
    with CaptureQueriesContext(connection) as queries:
        engine.apply(spec, result, by=BY, unit=world.street, filename="t.xlsx")
    selects = [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith("SELECT")]
    assert not any("ledgers_resident" in sql for sql in selects), selects
    ids = [i for e in AuditEvent.objects.filter(event_type="ledgers.resident_import_batch").order_by("seq")
           for i in e.changes["ids"]]
    by_number = dict(Resident.objects.values_list("id_number", "pk"))
    assert ids == [by_number[row[1]] for row in rows]
    assert all(Resident.objects.get(pk=pk).memberships.get().group == "youth" for pk in ids[:5])


def test_reimport_finds_each_kind_of_change(world):
    from jiedao.ledgers.models import ResidentGroup

    header = ["姓名", "公民身份号码", "手机号", "住址", "人群类别", "所属单位", "备注"]
    base = [
        [f"测试{i}", fake_id(seq=400 + i), f"1390000{i:04d}", f"兰宫路 {i} 号", "青少年", "兰宫路社区",
         f"备注{i}"]
        for i in range(8)
    ]
    result, counts = run(world, "residents", book([header, *base]))
    assert counts["created"] == 8
    changed = [list(r) for r in base]
    changed[0][0] = "改名"
    changed[1][2] = "13811112222"
    changed[2][3] = "新地址"
    changed[3][4] = "青少年、困难群众"
    changed[4][5] = "十里江山社区"
    changed[5][6] = ""
    changed[6][4] = ""  # groups emptied
    extra = ["新人", fake_id(seq=499), "", "", "", "", ""]
    result, counts = run(world, "residents", book([header, *changed, extra]))
    assert result.errors == [], result.errors
    assert counts == {"created": 1, "updated": 7, "unchanged": 1, "total": 9}
    fields = {p.row: p.changed for p in result.plan}
    assert fields == {
        2: ["name"], 3: ["phone"], 4: ["address"], 5: ["groups"], 6: ["org_unit"], 7: ["notes"],
        8: ["groups"], 9: [], 10: [],
    }
    first = Resident.objects.get(id_number=fake_id(seq=400))
    assert first.name == "改名"
    assert sorted(Resident.objects.get(id_number=fake_id(seq=403)).group_codes) == ["needy", "youth"]
    assert Resident.objects.get(id_number=fake_id(seq=404)).org_unit.name == "十里江山社区"
    assert not ResidentGroup.objects.filter(resident__id_number=fake_id(seq=406)).exists()
    # the same file once more: nothing left to change, nothing written
    events = AuditEvent.objects.count()
    result, counts = run(world, "residents", book([header, *changed, extra]))
    assert counts == {"created": 0, "updated": 0, "unchanged": 9, "total": 9}
    assert AuditEvent.objects.count() == events + 1  # the summary event only
    # a column left out of the file leaves that field alone
    slim = [[r[0], r[1]] for r in changed]
    result, counts = run(world, "residents", book([["姓名", "公民身份号码"], *slim]))
    assert counts["unchanged"] == 8
    assert Resident.objects.get(id_number=fake_id(seq=401)).phone == "13811112222"


def test_reimport_matching_uses_a_fixed_number_of_queries(world):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    spec = get_spec("residents")
    counts = {}
    for n in (20, 600):
        rows = [[f"测试{i}", fake_id(birth=f"1970{n % 12 + 1:02d}01", seq=i), "", "青少年"] for i in range(n)]
        data = book([RESIDENT_HEADER, *rows])
        run(world, "residents", data)
        with CaptureQueriesContext(connection) as queries:
            result = engine.check(spec, data, engine.Context(world.street, lambda u: True))
        assert result.count("unchanged") == n
        counts[n] = len(queries)
    assert counts[20] == counts[600] <= 6, counts


def test_new_ids_without_insert_returning(world, monkeypatch):
    from django.db import connection

    monkeypatch.setattr(connection.features, "can_return_rows_from_bulk_insert", False)
    rows = [[f"测试{i}", fake_id(seq=(i * 7) % 31 + 600), "", "青少年"] for i in range(30)]
    result, counts = run(world, "residents", book([RESIDENT_HEADER, *rows]))
    assert counts["created"] == 30
    ids = AuditEvent.objects.get(event_type="ledgers.resident_import_batch").changes["ids"]
    by_number = dict(Resident.objects.values_list("id_number", "pk"))
    assert ids == [by_number[row[1]] for row in rows]

"""Work records: tallies (form and xlsx), meetings → suggestion cases with solved counts,
visits → enterprise-demand cases with repeat visits, inspections → hazard cases with found
vs rectified, relief / job fairs / insurance, plan items — and every one scoped by street."""

import datetime as dt
from decimal import Decimal
from io import BytesIO

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from openpyxl import Workbook, load_workbook

from jiedao.accounts.roles import Role
from jiedao.audit.models import AuditEvent
from jiedao.audit.trail import Actor
from jiedao.cases import services as case_services
from jiedao.cases.models import Case, Outcome
from jiedao.ledgers.models import Enterprise
from jiedao.records import selectors, services, xlsx
from jiedao.records.models import (
    ActivityType,
    EnterpriseVisit,
    Inspection,
    InsuranceEnrolment,
    Meeting,
    PlanItem,
    Tally,
)

SYSTEM = Actor.system("test")
D = Decimal
DAY = dt.date(2021, 10, 8)
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
       b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N"
       b"\x00\x00\x00\x00IEND\xaeB`\x82")


def finish(case: Case, outcome: str) -> None:
    """Run a case through the loop to 办结 with ``outcome``."""
    case = Case.objects.get(pk=case.pk)
    case_services.dispatch(SYSTEM, case, version=None, handler_unit=case.street)
    case_services.accept(SYSTEM, case, version=None)
    case_services.resolve(SYSTEM, case, version=None, outcome=outcome, note="已处理")


def activity(name: str) -> ActivityType:
    return ActivityType.objects.get(name=name)


# --- 工作量 ----------------------------------------------------------------------------

def test_default_activity_types_include_pandemic_counts(db):
    names = set(ActivityType.objects.values_list("name", flat=True))
    assert {"清理楼道杂物", "拆除违章搭建", "密接", "核酸检测", "疫苗接种(第一剂)",
            "疫苗接种(第二剂)", "疫苗接种(加强针)"} <= names
    assert activity("拆除违章搭建").measure == "平方米"


def test_tally_form_with_photo_and_totals(client, world):
    worker = world.users[Role.COMMUNITY_WORKER]
    client.force_login(worker)
    community = world.units["360103012001"]
    response = client.post(reverse("records:tally_create"), {
        "org_unit": community.pk, "date": "2021-10-08", "activity": activity("清理楼道杂物").pk,
        "quantity": "12.5", "note": "兰宫路小区",
        "photos": [SimpleUploadedFile("a.png", PNG, "image/png")]})
    assert response.status_code == 302
    tally = Tally.objects.get()
    assert (tally.quantity, tally.org_unit, tally.photos.count()) == (D("12.5"), community, 1)
    services.tally_create(SYSTEM, org_unit=community, date=DAY,
                          activity=activity("清理楼道杂物"), quantity=D("7.5"))
    page = client.get(reverse("records:tally_list"))
    assert page.context["totals"][0]["total"] == D("20")
    photo = client.get(reverse("records:tally_photo", args=[tally.photos.get().pk]))
    assert photo.status_code == 200 and b"".join(photo.streaming_content) == PNG
    assert AuditEvent.objects.filter(event_type="records.tally_create").count() == 2


def test_tally_photo_must_be_an_image(world):
    with pytest.raises(ValidationError) as exc:
        services.tally_create(SYSTEM, org_unit=world.street, date=DAY,
                              activity=activity("开展活动"), quantity=D(1),
                              photos=[SimpleUploadedFile("x.png", b"not an image", "image/png")])
    assert "x.png" in str(exc.value)
    assert not Tally.objects.exists()


def test_tally_cannot_be_entered_for_another_unit(world):
    worker = world.users[Role.COMMUNITY_WORKER]  # 兰宫路社区
    with pytest.raises(ValidationError):
        services.tally_create(Actor(user=worker), org_unit=world.units["360103012002"], date=DAY,
                              activity=activity("开展活动"), quantity=D(1))


def _tally_sheet(rows) -> BytesIO:
    wb = Workbook()
    wb.active.append(xlsx.TALLY_HEADERS)
    for row in rows:
        wb.active.append(row)
    out = BytesIO()
    wb.save(out)
    out.seek(0)
    out.name = "tallies.xlsx"
    return out


def test_tally_xlsx_round_trip(client, world):
    leader = world.users[Role.LEADER]
    client.force_login(leader)
    template = load_workbook(BytesIO(client.get(reverse("records:tally_template")).content))
    assert [c.value for c in template.worksheets[0][1]] == xlsx.TALLY_HEADERS
    assert any(r[1] == "核酸检测" for r in template.worksheets[1].iter_rows(values_only=True))
    sheet = _tally_sheet([
        [dt.datetime(2021, 3, 1), "兰宫路社区", "清除垃圾广告", 800, "条", "春季整治"],
        ["2021-03-02", "360103012002", "拆除违章搭建", "120.5", "", ""],
        ["2021/03/03", "城管办", "规范非机动车", 3000, "辆", ""],
    ])
    response = client.post(reverse("records:tally_import"), {"file": sheet})
    assert response.status_code == 302
    assert Tally.objects.count() == 3
    assert Tally.objects.get(activity__name="拆除违章搭建").quantity == D("120.5")
    exported = client.get(reverse("records:tally_export"))
    rows = list(load_workbook(BytesIO(exported.content)).active.iter_rows(values_only=True))
    assert rows[0] == tuple(xlsx.TALLY_HEADERS)
    assert [(r[1], r[2], D(str(r[3]))) for r in rows[1:]] == [
        ("兰宫路社区", "清除垃圾广告", D("800")), ("十里江山社区", "拆除违章搭建", D("120.5")),
        ("城管办", "规范非机动车", D("3000"))]
    # the export imports again unchanged
    again = BytesIO(exported.content)
    again.name = "again.xlsx"
    assert client.post(reverse("records:tally_import"), {"file": again}).status_code == 302
    assert Tally.objects.count() == 6


def test_tally_xlsx_errors_name_rows_and_write_nothing(client, world):
    client.force_login(world.users[Role.COMMUNITY_WORKER])  # 兰宫路社区 only
    sheet = _tally_sheet([
        ["2021-03-01", "兰宫路社区", "清除垃圾广告", 800, "", ""],
        ["2021-02-30", "兰宫路社区", "清除垃圾广告", 1, "", ""],
        ["2021-03-01", "南浦社区", "清除垃圾广告", 1, "", ""],
        ["2021-03-01", "兰宫路社区", "跳广场舞", 1, "", ""],
        ["2021-03-01", "兰宫路社区", "拆除违章搭建", -3, "", ""],
        ["2021-03-01", "兰宫路社区", "拆除违章搭建", 3, "处", ""],
    ])
    response = client.post(reverse("records:tally_import"), {"file": sheet})
    assert response.status_code == 200
    problems = response.context["problems"]
    assert [p.split("「")[0] for p in problems] == [
        "第 3 行", "第 4 行", "第 5 行", "第 6 行", "第 7 行"]
    assert "南浦社区" in problems[1] and "跳广场舞" in problems[2] and "平方米" in problems[4]
    assert not Tally.objects.exists()


# --- 会议 ------------------------------------------------------------------------------

def test_meeting_suggestions_become_cases_and_solved_is_counted(client, world):
    worker = world.users[Role.COMMUNITY_WORKER]
    client.force_login(worker)
    response = client.post(reverse("records:meeting_create"), {
        "org_unit": world.units["360103012001"].pk, "kind": "four_party", "date": "2021-10-08",
        "place": "兰宫路社区党群服务站", "topic": "小区停车", "minutes": "四方议事",
        "count_community": 2, "names_community": "赵六、钱七", "count_property": 1,
        "count_merchant": 1, "count_resident": 5,
        "suggestions": "增设电动车停车棚\n\n新增休闲椅\n修补路面"})
    assert response.status_code == 302
    meeting = Meeting.objects.get()
    assert meeting.attendance.count() == 4
    cases = [s.case for s in meeting.suggestions.all()]
    assert len(cases) == 3
    assert {c.kind for c in cases} == {"suggestion"} and {c.channel for c in cases} == {"joint_meeting"}
    assert cases[0].org_unit == world.units["360103012001"]
    finish(cases[0], Outcome.SOLVED)
    finish(cases[1], Outcome.EXPLAINED)  # finished, but not solved
    counted = selectors.meetings_for(worker).get(pk=meeting.pk)
    assert (counted.suggestions_total, counted.suggestions_solved) == (3, 1)
    page = client.get(reverse("records:meeting_detail", args=[meeting.pk]))
    assert page.context["meeting"].suggestions_solved == 1
    assert "赵*、钱*" in page.content.decode() and "赵六" not in page.content.decode()
    listing = client.get(reverse("records:meeting_list"))
    assert listing.context["totals"] == {"total": 3, "solved": 1}
    # a suggestion added later is a case too
    client.post(reverse("records:meeting_detail", args=[meeting.pk]), {"text": "楼顶晾晒"})
    assert meeting.suggestions.count() == 4


def test_meeting_needs_attendance_and_a_failed_case_rolls_back(client, world):
    client.force_login(world.users[Role.LEADER])
    response = client.post(reverse("records:meeting_create"), {
        "org_unit": world.street.pk, "kind": "roundtable", "date": "2021-10-08", "place": "x",
        "topic": "y"})
    assert response.status_code == 200 and "参会人数" in str(response.context["form"].errors)
    from jiedao.cases.models import Category
    Category.objects.filter(kind="suggestion").update(is_active=False)
    with pytest.raises(ValidationError):
        services.meeting_create(SYSTEM, org_unit=world.street, kind="roundtable", date=DAY,
                                place="x", topic="y", attendance={"resident": (3, "")},
                                suggestions=["one"])
    assert not Meeting.objects.exists() and not Case.objects.exists()


# --- 走访认亲 --------------------------------------------------------------------------

@pytest.fixture
def enterprise(world):
    return Enterprise.objects.create(org_unit=world.street, name="国金滨江置业有限公司",
                                     credit_code="91350100M000100Y43", kind="registered",
                                     sector="real_estate")


def test_visits_count_repeats_and_demands_become_cases(client, world, enterprise):
    leader = world.users[Role.LEADER]
    by = Actor(user=leader)
    first = services.enterprise_visit_create(
        by, org_unit=world.street, date=DAY, visitor=leader, visitor_name="王建国",
        target_kind="enterprise", enterprise=enterprise, demands=["用工难", "停车难"],
        suggestions=["加强周边绿化"])
    services.enterprise_visit_create(by, org_unit=world.street, date=DAY, visitor_name="王建国",
                                     target_kind="enterprise", enterprise=enterprise)
    services.enterprise_visit_create(by, org_unit=world.street, date=DAY, visitor_name="李敏",
                                     target_kind="individual", target_name="张记早餐店")
    items = list(first.items.all())
    assert {i.case.kind for i in items} == {"enterprise_demand"}
    assert items[0].case.enterprise == enterprise and items[0].case.channel == "visit"
    finish(items[0].case, Outcome.SOLVED)
    finish(items[1].case, Outcome.TRANSFERRED)
    stats = selectors.visit_stats(EnterpriseVisit.objects.all())
    assert (stats.visits, stats.enterprises, stats.individuals) == (3, 1, 1)
    assert (stats.demands, stats.suggestions, stats.open_items) == (2, 1, 1)
    assert stats.outcomes == {"solved": 1, "transferred": 1}
    client.force_login(leader)
    assert client.get(reverse("records:visit_detail", args=[first.pk])).context["times"] == 2


def test_key_enterprise_list_shows_whether_visited(client, world, enterprise):
    leader = world.users[Role.LEADER]
    services.key_enterprise_add(Actor(user=leader), org_unit=world.street, year=2021,
                                leader=leader, enterprise=enterprise)
    client.force_login(leader)
    assert client.get(reverse("records:key_enterprises")).context["rows"][0][1] is False
    services.enterprise_visit_create(Actor(user=leader), org_unit=world.street, date=DAY,
                                     visitor=leader, visitor_name="王建国",
                                     target_kind="enterprise", enterprise=enterprise)
    assert client.get(reverse("records:key_enterprises")).context["rows"][0][1] is True
    with pytest.raises(ValidationError):
        services.key_enterprise_add(Actor(user=leader), org_unit=world.street, year=2021,
                                    leader=leader, enterprise=enterprise)


# --- 排查 ------------------------------------------------------------------------------

def test_inspection_found_versus_rectified_from_its_cases(client, world):
    grid_worker = world.users[Role.GRID_WORKER]
    grid = world.units["360103012001001"]
    client.force_login(grid_worker)
    response = client.post(reverse("records:inspection_create"), {
        "org_unit": grid.pk, "date": "2021-10-08", "kind": "fire", "premises_kind": "shop",
        "premises": "兰宫路12号店铺", "inspectors": 2, "note": "",
        "hazards": "灭火器过期\n通道堆物", "photos": [SimpleUploadedFile("h.png", PNG, "image/png")]})
    assert response.status_code == 302, response.context["form"].errors
    inspection = Inspection.objects.get()
    hazards = list(inspection.hazards.select_related("case"))
    assert [h.case.kind for h in hazards] == ["hazard", "hazard"]
    assert hazards[0].case.category.code == "safety-fire"
    assert hazards[0].case.attachments.get().stage == "before"
    assert hazards[1].case.attachments.count() == 0
    counted = selectors.inspections_for(grid_worker).get()
    assert (counted.hazards_found, counted.hazards_rectified) == (2, 0)
    finish(hazards[0].case, Outcome.SOLVED)
    counted = selectors.inspections_for(grid_worker).get()
    assert (counted.hazards_found, counted.hazards_rectified) == (2, 1)
    # a repeat inspection of the same premises is counted as an inspection, not a premises
    services.inspection_create(SYSTEM, org_unit=grid, date=DAY, kind="fire",
                               premises_kind="shop", premises="兰宫路12号店铺")
    stats = selectors.inspection_stats(Inspection.objects.all())
    assert stats["inspections"] == 2 and stats["by_kind"]["shop"] == {"inspections": 2,
                                                                        "premises": 1}
    assert (stats["found"], stats["rectified"]) == (2, 1)
    page = client.get(reverse("records:inspection_detail", args=[inspection.pk]))
    assert page.context["repeat"] == 2 and page.context["inspection"].hazards_rectified == 1
    photo_url = reverse("cases:attachment_file", args=[hazards[0].case.attachments.get().pk])
    assert f'<img src="{photo_url}"' in page.content.decode()
    assert client.get(photo_url).status_code == 200  # the grid worker may open it


# --- 慰问、招聘会、参保、计划 ----------------------------------------------------------

def test_relief_job_fair_and_insurance(client, world):
    client.force_login(world.users[Role.LEADER])
    for household, group, amount in (("张三", "dibao", "500"), ("李四", "hardship_worker", "600")):
        assert client.post(reverse("records:simple_create", args=["relief"]), {
            "org_unit": world.street.pk, "date": "2021-02-05", "occasion": "春节慰问",
            "household": household, "group": group, "amount": amount}).status_code == 302
    page = client.get(reverse("records:simple_list", args=["relief"]))
    assert page.context["sums"] == {"households": 2, "amount": D("1100")}
    assert "张*" in page.content.decode() and "张三" not in page.content.decode()
    services.job_fair_create(SYSTEM, org_unit=world.street, date=DAY, title="送岗进校园",
                             positions=300, placed=200)
    assert client.get(reverse("records:simple_list", args=["job-fairs"])).context["sums"] == {
        "fairs": 1, "positions": 300, "placed": 200}
    response = client.post(reverse("records:simple_create", args=["insurance"]), {
        "org_unit": world.street.pk, "as_of": "2021-10-31", "kind": "medical", "total": 10,
        "new": 11})
    assert response.status_code == 200 and response.context["form"].errors["new"]
    services.insurance_record(SYSTEM, org_unit=world.street, as_of=DAY, kind="medical",
                              total=7241, new=379)
    assert InsuranceEnrolment.objects.get().new == 379
    with pytest.raises(ValidationError):
        services.insurance_record(SYSTEM, org_unit=world.street, as_of=DAY, kind="medical",
                                  total=1, new=0)
    assert client.get(reverse("records:simple_list", args=["nothing"])).status_code == 404


def test_plan_items_link_to_indicators_and_categories(client, world):
    from jiedao.cases.models import Category
    from jiedao.records.models import Indicator

    leader = world.users[Role.LEADER]
    client.force_login(leader)
    indicator = Indicator.objects.get(code="fixed-asset-investment")
    category = Category.objects.filter(kind="suggestion").first()
    response = client.post(reverse("records:plan_create"), {
        "org_unit": world.street.pk, "year": 2022, "section": "紧抓重点项目,优化营商环境",
        "sort": 30, "text": "全力推进中粮大悦城等在建重大项目建设", "owner": "经济发展办",
        "measures": "", "status": "planned", "indicator": indicator.pk, "category": category.pk})
    assert response.status_code == 302
    item = PlanItem.objects.get()
    assert (item.indicator, item.category) == (indicator, category)
    response = client.post(reverse("records:plan_edit", args=[item.pk]), {
        "year": 2022, "section": item.section, "sort": 30, "text": item.text,
        "owner": "经济发展办", "measures": "每月调度", "status": "in_progress",
        "indicator": indicator.pk, "category": ""})
    assert response.status_code == 302
    item.refresh_from_db()
    assert (item.status, item.category, item.org_unit) == ("in_progress", None, world.street)
    event = AuditEvent.objects.get(event_type="records.plan_update")
    assert event.changes["status"] == ["planned", "in_progress"]

    # what the next summary reports on: the indicator's latest figure and the category's cases
    services.indicator_target_set(SYSTEM, indicator=indicator, street=world.street, year=2022,
                                  target=D("30"))
    services.indicator_value_set(SYSTEM, indicator=indicator, street=world.street, year=2022,
                                 month=3, actual=D("7.5"))
    item = services.plan_item_save(SYSTEM, item=item, category=category)
    for title in ("议题一", "议题二"):
        case = case_services.case_create(SYSTEM, title=title, channel="roundtable",
                                         category=category, street=world.street,
                                         at=dt.datetime(2022, 4, 1, 9, tzinfo=dt.UTC))
    finish(case, Outcome.SOLVED)
    measure = selectors.plan_measures([item])[item.pk]
    assert (measure.indicator_period, measure.indicator_row.progress) == ("1-3月", D("25.00"))
    assert measure.indicator_row.rank == 1
    assert (measure.cases_raised, measure.cases_solved) == (2, 1)
    page = client.get(reverse("records:plan_list") + "?year=2022").content.decode()
    assert "25.00%" in page and "受理 2 件,解决 1 件" in page


# --- access by scope -----------------------------------------------------------------------

@pytest.fixture
def nanpu_records(world):
    """One record of every type in 南浦街道."""
    street = world.other_street
    community = world.units["360103001001"]
    tally = services.tally_create(SYSTEM, org_unit=community, date=DAY,
                                  activity=activity("核酸检测"), quantity=D(961),
                                  photos=[SimpleUploadedFile("p.png", PNG, "image/png")])
    meeting = services.meeting_create(SYSTEM, org_unit=community, kind="roundtable", date=DAY,
                                      place="南浦", topic="南浦议题",
                                      attendance={"resident": (3, "")}, suggestions=["南浦建议"])
    visit = services.enterprise_visit_create(SYSTEM, org_unit=street, date=DAY,
                                             visitor_name="外街", target_kind="individual",
                                             target_name="南浦小店", demands=["南浦诉求"])
    inspection = services.inspection_create(SYSTEM, org_unit=street, date=DAY, kind="safety",
                                            premises_kind="warehouse", premises="南浦仓库",
                                            hazards=["南浦隐患"])
    services.relief_create(SYSTEM, org_unit=street, date=DAY, household="南浦户", group="dibao",
                           amount=D(500))
    services.job_fair_create(SYSTEM, org_unit=street, date=DAY, title="南浦招聘会", positions=5)
    services.insurance_record(SYSTEM, org_unit=street, as_of=DAY, kind="pension", total=9)
    plan = services.plan_item_save(SYSTEM, org_unit=street, year=2022, section="南浦板块",
                                   text="南浦计划", owner="南浦")
    return {"tally": tally, "meeting": meeting, "visit": visit, "inspection": inspection,
            "plan": plan}


def test_another_streets_records_are_404_and_absent_from_lists(client, world, nanpu_records):
    r = nanpu_records
    for role in (Role.LEADER, Role.STAFF, Role.COMMUNITY_WORKER):
        client.force_login(world.users[role])
        for name, pk in (("tally_detail", r["tally"].pk), ("meeting_detail", r["meeting"].pk),
                         ("visit_detail", r["visit"].pk),
                         ("inspection_detail", r["inspection"].pk),
                         ("tally_photo", r["tally"].photos.get().pk), ("plan_edit", r["plan"].pk)):
            assert client.get(reverse(f"records:{name}", args=[pk])).status_code == 404, (role, name)
            assert client.get(reverse(f"records:{name}", args=[pk + 1000])).status_code == 404
        for name, args in (("tally_list", []), ("meeting_list", []), ("visit_list", []),
                           ("inspection_list", []), ("plan_list", []), ("index", []),
                           ("simple_list", ["relief"]), ("simple_list", ["job-fairs"]),
                           ("simple_list", ["insurance"])):
            page = client.get(reverse(f"records:{name}", args=args))
            assert page.status_code == 200
            assert "南浦" not in page.content.decode(), (role, name)
    # 南浦's own staff see them
    client.force_login(world.other[Role.STAFF])
    assert client.get(reverse("records:meeting_detail", args=[r["meeting"].pk])).status_code == 200
    assert "南浦小店" in client.get(reverse("records:visit_list")).content.decode()
    # roles without business reading see nothing at all
    for role in (Role.RESIDENT, Role.PROVIDER, Role.AUDITOR, Role.SYSADMIN):
        client.force_login(world.users[role])
        assert client.get(reverse("records:index")).status_code == 404
        assert client.get(reverse("records:tally_list")).status_code == 404


def test_readers_cannot_write(client, world):
    client.force_login(world.users[Role.DISTRICT_VIEWER])
    assert client.get(reverse("records:tally_list")).status_code == 200
    assert client.get(reverse("records:tally_create")).status_code == 404
    assert client.post(reverse("records:meeting_create"), {}).status_code == 404


def _queries(client, url) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx)


def test_list_pages_do_not_query_per_row(client, world):
    leader = world.users[Role.LEADER]
    client.force_login(leader)

    def add(n):
        for i in range(n):
            services.meeting_create(SYSTEM, org_unit=world.street, kind="roundtable", date=DAY,
                                    place="p", topic=f"t{i}", attendance={"resident": (1, "")},
                                    suggestions=["s"])
            services.inspection_create(SYSTEM, org_unit=world.street, date=DAY, kind="fire",
                                       premises_kind="shop", premises=f"p{i}", hazards=["h"])
            services.tally_create(SYSTEM, org_unit=world.street, date=DAY,
                                  activity=activity("开展活动"), quantity=D(1))

    urls = [reverse("records:meeting_list"), reverse("records:inspection_list"),
            reverse("records:tally_list"), reverse("records:visit_list")]
    add(2)
    _queries(client, urls[0])  # warm the per-request caches
    few = [_queries(client, url) for url in urls]
    add(4)
    assert [_queries(client, url) for url in urls] == few


def test_reference_data_is_configured_by_the_system_admin_only(client, world):
    client.force_login(world.users[Role.SYSADMIN])
    assert client.get("/admin/records/activitytype/").status_code == 200
    response = client.post("/admin/records/activitytype/add/", {
        "name": "清理小广告", "measure": "处", "section": "市容整治", "sort": 5, "is_active": "on"})
    assert response.status_code == 302
    assert ActivityType.objects.filter(name="清理小广告", measure="处").exists()
    assert AuditEvent.objects.filter(event_type="admin.activitytype_create").exists()
    client.force_login(world.users[Role.LEADER])
    assert client.get("/admin/records/activitytype/").status_code != 200

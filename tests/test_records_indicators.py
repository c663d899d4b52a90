"""经济指标: progress, year-on-year, cumulative months, district ranking with ties and missing
data; who may enter which street; the 通报 command; the statistics sheet round trip."""

import json
from decimal import Decimal
from io import BytesIO, StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.urls import reverse
from openpyxl import Workbook, load_workbook

from jiedao.accounts.roles import Role
from jiedao.accounts.services import membership_grant, user_create
from jiedao.audit.models import AuditEvent
from jiedao.audit.trail import Actor
from jiedao.records import indicators as ind
from jiedao.records import services, xlsx
from jiedao.records.models import Indicator, IndicatorTarget, IndicatorValue

SYSTEM = Actor.system("test")
D = Decimal

# The district's streets (jiedao/demo/organisation.py), by code.
CHAONONG, NANPU, CHAOYANGZHOU, TAOYUAN, SHIZIJIE = (
    "360103012", "360103001", "360103002", "360103006", "360103008")


@pytest.fixture
def econ(world):
    """朝农街道 经济发展办 staff: enters their own street's indicators only."""
    unit = world.units[f"{CHAONONG}/经济发展办"]
    user = user_create(by=SYSTEM, username="jingji", password=world.password, home_unit=unit,
                       full_name="经济员")
    membership_grant(by=SYSTEM, user=user, unit=unit, role=Role.STAFF)
    return user


@pytest.fixture
def fdi(db):
    return Indicator.objects.get(code="foreign-capital")


def _set(world, indicator, code, year, month=None, actual=None, target=None):
    street = world.units[code]
    if target is not None:
        services.indicator_target_set(SYSTEM, indicator=indicator, street=street, year=year,
                                      target=D(target))
    if actual is not None:
        services.indicator_value_set(SYSTEM, indicator=indicator, street=street, year=year,
                                     month=month, actual=D(actual))


# --- pure computations ---------------------------------------------------------------------

def test_progress_is_actual_over_target_rounded_half_up():
    assert ind.progress(D("2157"), D("2860")) == D("75.42")  # the seed's 外资 progress
    assert ind.progress(D("1"), D("3")) == D("33.33")
    assert ind.progress(D("2"), D("3")) == D("66.67")
    assert ind.progress(D("1"), D("8")) == D("12.50")
    assert ind.progress(D("0.125"), D("100")) == D("0.13")  # half-up, not banker's rounding
    assert ind.progress(D("5"), D("0")) is None
    assert ind.progress(None, D("10")) is None
    assert ind.progress(D("5"), None) is None


def test_year_on_year_against_same_months_of_last_year():
    assert ind.yoy(D("24.46"), D("17.62")) == D("38.82")
    assert ind.yoy(D("90"), D("100")) == D("-10.00")
    assert ind.yoy(D("10"), None) is None
    assert ind.yoy(D("10"), D("0")) is None  # no base, no growth rate


def test_competition_ranking_shares_ties_and_skips():
    ranks = ind.competition_rank([("a", D("50")), ("b", D("75")), ("c", D("75")),
                                  ("d", None), ("e", D("10"))])
    assert ranks == {"b": 1, "c": 1, "a": 3, "e": 4, "d": None}


def test_monthly_amounts_from_cumulative_figures():
    cum = {1: D("10"), 2: D("25"), 3: D("25"), 5: D("40")}
    assert ind.monthly_amounts(cum) == {1: D("10"), 2: D("15"), 3: D("0"), 5: None}


# --- the 通报 over stored figures ----------------------------------------------------------

@pytest.fixture
def october(world, fdi):
    """2021 targets and 1-10月 figures for the five streets, with ties and gaps."""
    _set(world, fdi, CHAONONG, 2021, target="2860", month=10, actual="2157")  # 75.42%
    _set(world, fdi, NANPU, 2021, target="1000", month=10, actual="800")  # 80.00%
    _set(world, fdi, CHAOYANGZHOU, 2021, target="2000", month=10, actual="1600")  # 80.00% tie
    _set(world, fdi, TAOYUAN, 2021, target="500")  # target only: unranked
    _set(world, fdi, SHIZIJIE, 2021, month=10, actual="300")  # no target: unranked
    _set(world, fdi, CHAONONG, 2020, month=10, actual="1800")
    _set(world, fdi, NANPU, 2020, month=9, actual="700")  # September only: no YoY for October
    return fdi


def test_bulletin_ranks_ties_and_lists_missing_unranked(world, october):
    rows = ind.bulletin(world.units["360103"], 2021, 10, [october])
    by_street = {r.street.code: r for r in rows}
    assert [(r.street.code, r.rank) for r in rows] == [
        (NANPU, 1), (CHAOYANGZHOU, 1), (CHAONONG, 3), (TAOYUAN, None), (SHIZIJIE, None)]
    chaonong = by_street[CHAONONG]
    assert (chaonong.target, chaonong.actual, chaonong.progress) == (D("2860"), D("2157"),
                                                                      D("75.42"))
    assert chaonong.yoy == D("19.83")  # (2157 − 1800) ÷ 1800
    assert by_street[NANPU].yoy is None  # last year's October is missing
    assert by_street[TAOYUAN].progress is None and by_street[SHIZIJIE].progress is None


def test_ranking_moves_when_a_figure_is_corrected(world, october):
    district = world.units["360103"]
    _set(world, october, CHAONONG, 2021, month=10, actual="2600")  # 90.91%
    ranks = {r.street.code: r.rank for r in ind.bulletin(district, 2021, 10, [october])}
    assert ranks[CHAONONG] == 1 and ranks[NANPU] == 2 and ranks[CHAOYANGZHOU] == 2
    assert IndicatorValue.objects.filter(indicator=october, year=2021, month=10).count() == 4
    event = AuditEvent.objects.filter(event_type="records.indicator_value_set").order_by("seq").last()
    assert event.changes == {"actual": ["2157.0000", "2600"]}


def test_a_month_without_figures_is_not_carried_forward(world, october):
    rows = ind.bulletin(world.units["360103"], 2021, 11, [october])
    assert all(r.rank is None and r.actual is None for r in rows)


def test_series_gives_cumulative_months_last_year_and_target(world, fdi):
    for month, actual in ((1, "100"), (2, "250"), (3, "400")):
        _set(world, fdi, CHAONONG, 2021, month=month, actual=actual)
    _set(world, fdi, CHAONONG, 2020, month=2, actual="200")
    _set(world, fdi, CHAONONG, 2021, target="1200")
    s = ind.series(fdi, world.units[CHAONONG], 2021)
    assert s.actual[:4] == [D("100"), D("250"), D("400"), None]
    assert s.monthly[:4] == [D("100"), D("150"), D("150"), None]
    assert s.last_year[:3] == [None, D("200"), None]
    assert s.target == D("1200")
    assert ind.period_label(fdi, 10) == "1-10月"


# --- who may enter -------------------------------------------------------------------------

def test_entry_rights_by_street(world, econ):
    chaonong, nanpu = world.units[CHAONONG], world.units[NANPU]
    assert ind.may_enter(econ, chaonong) and not ind.may_enter(econ, nanpu)
    assert not ind.may_enter(world.users[Role.STAFF], chaonong)  # 城管办 staff
    assert not ind.may_enter(world.users[Role.COMMUNITY_WORKER], chaonong)
    assert ind.may_enter(world.users[Role.LEADER], chaonong)
    statistician = world.other[Role.DISTRICT_STATISTICIAN]
    assert ind.may_enter(statistician, chaonong) and ind.may_enter(statistician, nanpu)
    assert not ind.may_enter(world.users[Role.DISTRICT_VIEWER], chaonong)


def test_service_refuses_another_streets_figures(world, econ, fdi):
    with pytest.raises(ValidationError) as exc:
        services.indicator_value_set(Actor(user=econ), indicator=fdi, street=world.units[NANPU],
                                     year=2021, month=10, actual=D("1"))
    assert "南浦街道" in str(exc.value)
    assert not IndicatorValue.objects.exists()


# --- pages ---------------------------------------------------------------------------------

def test_bulletin_page_for_a_street_and_the_district(client, world, october):
    url = reverse("records:indicator_list") + "?year=2021&month=10"
    for user in (world.users[Role.COMMUNITY_WORKER], world.other[Role.DISTRICT_STATISTICIAN]):
        client.force_login(user)
        page = client.get(url).content.decode()
        assert "利用外资实际到位资金" in page and "75.42%" in page and "19.83%" in page
    client.force_login(world.users[Role.RESIDENT])
    assert client.get(url).status_code == 404


def test_entry_form_on_the_indicator_page(client, world, econ, october):
    url = reverse("records:indicator_detail", args=[october.pk]) + "?year=2021&month=10"
    client.force_login(econ)
    page = client.get(url)
    assert page.status_code == 200 and 'id="chart-ranking"' in page.content.decode()
    assert page.context["chart"]["ranking"][0]["street"] == "南浦街道"
    post = {"indicator": october.pk, "street": world.units[CHAONONG].pk, "year": 2021,
            "month": 10, "actual": "2700", "target": ""}
    response = client.post(url, post)
    assert response.status_code == 302
    assert IndicatorValue.objects.get(indicator=october, org_unit=world.units[CHAONONG], year=2021,
                                      month=10).actual == D("2700")
    # another street is not among the choices: the form refuses it, nothing is written
    response = client.post(url, {**post, "street": world.units[NANPU].pk, "actual": "1"})
    assert response.status_code == 200 and response.context["form"].errors["street"]
    assert IndicatorValue.objects.get(indicator=october, org_unit=world.units[NANPU], year=2021,
                                      month=10).actual == D("800")
    # a reader without entry rights sees no form and cannot post
    client.force_login(world.users[Role.COMMUNITY_WORKER])
    assert client.get(url).context["form"] is None
    assert client.post(url, post).status_code == 404


# --- the command ---------------------------------------------------------------------------

def test_indicators_command_json(world, october):
    out = StringIO()
    call_command("indicators", "--year", "2021", "--month", "10", "--json", stdout=out)
    rows = [r for r in json.loads(out.getvalue()) if r["indicator"] == "利用外资实际到位资金"]
    assert rows[0] == {"indicator": "利用外资实际到位资金", "street": "南浦街道", "target": 1000,
                       "actual": 800, "progress": 80, "yoy": None, "rank": 1}
    chaonong = next(r for r in rows if r["street"] == "朝农街道")
    assert (chaonong["progress"], chaonong["yoy"], chaonong["rank"]) == (75.42, 19.83, 3)
    assert [r["rank"] for r in rows] == [1, 1, 3, None, None]


def test_indicators_command_table(world, october):
    out = StringIO()
    call_command("indicators", "--year", "2021", "--month", "10", stdout=out)
    text = out.getvalue()
    assert "利用外资实际到位资金(万美元,1-10月)" in text
    assert "第3" in text and "75.42%" in text and "未排名" in text


# --- the district statistics sheet -----------------------------------------------------------

def _sheet(rows, headers=xlsx.INDICATOR_HEADERS) -> BytesIO:
    wb = Workbook()
    ws = wb.active
    ws.append(headers)
    for row in rows:
        ws.append(row)
    out = BytesIO()
    wb.save(out)
    out.seek(0)
    out.name = "stats.xlsx"
    return out


def test_statistics_sheet_round_trip(client, world, fdi):
    statistician = world.other[Role.DISTRICT_STATISTICIAN]
    client.force_login(statistician)
    template = client.get(reverse("records:indicator_template") + "?year=2021&month=10")
    wb = load_workbook(BytesIO(template.content))
    ws = wb.active
    assert [c.value for c in ws[1]] == xlsx.INDICATOR_HEADERS
    filled = 0
    for row in ws.iter_rows(min_row=2):
        if row[0].value == fdi.name and row[2].value in ("朝农街道", "南浦街道"):
            row[5].value, row[6].value = 2860 if row[2].value == "朝农街道" else 1000, 2157.5
            filled += 1
    assert filled == 2
    upload = BytesIO()
    wb.save(upload)
    upload.seek(0)
    upload.name = "stats.xlsx"
    response = client.post(reverse("records:indicator_import"), {"file": upload})
    assert response.status_code == 302
    assert IndicatorTarget.objects.get(indicator=fdi, org_unit=world.units[NANPU],
                                       year=2021).target == D("1000")
    # exported back out: the 通报 sheet carries the computed progress and rank
    export = client.get(reverse("records:indicator_list")
                        + "?year=2021&month=10&format=xlsx")
    rows = [r for r in load_workbook(BytesIO(export.content)).active.iter_rows(values_only=True)
            if r[0] == fdi.name]
    by_street = {r[2]: r for r in rows}
    assert by_street["南浦街道"][5] == pytest.approx(215.75) and by_street["南浦街道"][7] == 1
    assert by_street["朝农街道"][5] == pytest.approx(75.44) and by_street["朝农街道"][7] == 2


def test_statistics_sheet_with_errors_writes_nothing(world, econ, fdi):
    sheet = _sheet([
        [fdi.name, "万美元", "朝农街道", 2021, 10, 2860, 2157],
        ["不存在的指标", "", "朝农街道", 2021, 10, "", 1],
        [fdi.name, "万元", "朝农街道", 2021, 9, "", 100],
        [fdi.name, "", "南浦街道", 2021, 10, "", 800],
        [fdi.name, "", "朝农街道", 2021, 13, "", "abc"],
        [fdi.name, "", "朝农街道", 2021, 10, "", 2000],
    ])
    with pytest.raises(ValidationError) as exc:
        xlsx.read_indicators(sheet, econ)
    messages = exc.value.messages
    assert any(m.startswith("第 3 行「指标」") for m in messages)
    assert any(m.startswith("第 4 行「计量单位」") for m in messages)
    assert any(m.startswith("第 5 行「街道」") and "南浦街道" in m for m in messages)
    assert any(m.startswith("第 6 行「月份」") for m in messages)
    assert any(m.startswith("第 6 行「累计完成」") for m in messages)
    assert any(m.startswith("第 7 行") and "重复" in m for m in messages)
    assert not IndicatorValue.objects.exists() and not IndicatorTarget.objects.exists()


def test_import_is_all_or_nothing_at_the_service(world, econ, fdi):
    """A row the reader let through but the service refuses rolls the whole sheet back."""
    chaonong = world.units[CHAONONG]
    rows = [services.IndicatorRow(2, fdi, chaonong, 2021, 10, D("2860"), D("2157")),
            services.IndicatorRow(3, fdi, world.units[NANPU], 2021, 10, None, D("1"))]
    with pytest.raises(ValidationError) as exc:
        services.indicator_import(Actor(user=econ), rows=rows)
    assert exc.value.messages[0].startswith("第 3 行")
    assert not IndicatorValue.objects.exists() and not IndicatorTarget.objects.exists()


# --- the JSON API --------------------------------------------------------------------------

def test_api_bulletin_and_value_entry(client, world, econ, october):
    client.force_login(world.users[Role.COMMUNITY_WORKER])
    rows = client.get("/api/records/indicators/bulletin?year=2021&month=10").json()
    chaonong = next(r for r in rows if r["indicator_code"] == "foreign-capital"
                    and r["street"] == "朝农街道")
    assert (chaonong["progress"], chaonong["yoy"], chaonong["rank"]) == ("75.42", "19.83", 3)
    client.force_login(econ)
    body = {"indicator": "foreign-capital", "street": CHAONONG, "year": 2021, "month": 10,
            "actual": "2600"}
    response = client.put("/api/records/indicators/values", body, content_type="application/json")
    assert response.status_code == 200 and response.json()["actual"] == "2600"
    response = client.put("/api/records/indicators/values", {**body, "street": NANPU},
                          content_type="application/json")
    assert response.status_code == 404
    assert IndicatorValue.objects.get(org_unit=world.units[NANPU], year=2021,
                                      month=10).actual == D("800")
    client.force_login(world.users[Role.RESIDENT])
    assert client.get("/api/records/indicators/bulletin?year=2021&month=10").status_code == 404

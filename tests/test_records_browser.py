"""In Debian's Chromium: the district statistician enters October actuals of one indicator for
two streets; the ranking table and both ECharts charts change, and the charts really draw."""

import os
from decimal import Decimal

import pytest

from jiedao.accounts.roles import Role
from jiedao.audit.trail import Actor
from jiedao.records import services
from jiedao.records.models import Indicator, IndicatorValue
from tests.browsing import SHOTS, sign_in

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # sync Playwright + live_server

pytestmark = pytest.mark.browser
SYSTEM = Actor.system("test")

# street code → (2021 target, cumulative 1–9月)
FIGURES = {"360103012": ("2860", "2157"), "360103001": ("1000", "700"),
           "360103002": ("2000", "1500")}




def ranking(page) -> dict[str, str]:
    return dict(page.eval_on_selector_all(
        "#ranking tbody tr",
        "rows => rows.map(r => [r.dataset.street, r.querySelector('[data-rank]').innerText.trim()])"))


def painted_pixels(page, selector: str) -> int:
    """How many pixels of the chart's canvas are not blank."""
    return page.evaluate("""sel => {
        const canvas = document.querySelector(sel + ' canvas');
        if (!canvas) return 0;
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let n = 0;
        for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) n++;
        return n;
    }""", selector)


def chart_series(page, selector: str):
    return page.evaluate("""sel => {
        const chart = echarts.getInstanceByDom(document.querySelector(sel));
        return chart.getOption().series.map(s => s.data);
    }""", selector)


def enter_october(page, street_name: str, actual: str):
    page.select_option("#id_street", label=street_name)
    page.select_option("#id_month", "10")
    page.fill("#id_actual", actual)
    page.click("#entry button[type=submit]")
    page.wait_for_load_state("networkidle")
    page.wait_for_function("document.documentElement.dataset.chartsReady === '1'")


def test_october_entry_changes_ranking_and_charts(live_server, world, page):
    SHOTS.mkdir(exist_ok=True)
    indicator = Indicator.objects.get(code="foreign-capital")
    for code, (target, september) in FIGURES.items():
        street = world.units[code]
        services.indicator_target_set(SYSTEM, indicator=indicator, street=street, year=2021,
                                      target=Decimal(target))
        for month in range(1, 10):
            services.indicator_value_set(SYSTEM, indicator=indicator, street=street, year=2021,
                                         month=month,
                                         actual=(Decimal(september) * month / 9).quantize(Decimal("0.01")))
    # only 朝阳洲 has reported October so far
    services.indicator_value_set(SYSTEM, indicator=indicator, street=world.units["360103002"],
                                 year=2021, month=10, actual=Decimal("1600"))  # 80.00%

    page.set_viewport_size({"width": 1366, "height": 900})
    statistician = world.other[Role.DISTRICT_STATISTICIAN]
    sign_in(page, live_server.url, statistician.username, world.password)
    page.goto(f"{live_server.url}/records/indicators/{indicator.pk}/?year=2021&month=10")
    page.wait_for_function("document.documentElement.dataset.chartsReady === '1'")
    assert ranking(page) == {"朝阳洲街道": "第1", "南浦街道": "未排名", "朝农街道": "未排名",
                             "桃源街道": "未排名", "十字街街道": "未排名"}
    assert painted_pixels(page, "#chart-ranking") > 1000
    assert painted_pixels(page, "#chart-series") > 1000
    assert chart_series(page, "#chart-ranking")[0] == [80]
    page.screenshot(path=str(SHOTS / "records-indicator-before.png"), full_page=True)

    enter_october(page, "朝农街道", "2600")  # 90.91%
    assert "已保存" in page.inner_text(".messages")
    assert ranking(page)["朝农街道"] == "第1" and ranking(page)["朝阳洲街道"] == "第2"
    # the series chart now shows 朝农's months, October included
    october = chart_series(page, "#chart-series")[0][9]
    assert october == 2600

    enter_october(page, "南浦街道", "950")  # 95.00%
    assert ranking(page) == {"南浦街道": "第1", "朝农街道": "第2", "朝阳洲街道": "第3",
                             "桃源街道": "未排名", "十字街街道": "未排名"}
    assert chart_series(page, "#chart-ranking")[0] == [95, 90.91, 80]
    assert painted_pixels(page, "#chart-ranking") > 1000
    assert painted_pixels(page, "#chart-series") > 1000
    page.screenshot(path=str(SHOTS / "records-indicator-after.png"), full_page=True)
    assert IndicatorValue.objects.filter(indicator=indicator, year=2021, month=10).count() == 3

    # the monthly 通报 page agrees
    page.goto(f"{live_server.url}/records/indicators/?year=2021&month=10")
    row = page.locator("[data-indicator='foreign-capital'] tr[data-street='南浦街道']")
    assert row.locator("[data-rank]").inner_text().strip() == "第1"
    assert row.locator("[data-progress]").inner_text().strip() == "95.00%"
    page.screenshot(path=str(SHOTS / "records-indicator-bulletin.png"))

"""Reading numbers: numerals, units, approximations, periods and what a number counts."""

from decimal import Decimal

import pytest

from jiedao.checker.numbers import mentions, parse_chinese, parse_number


@pytest.mark.parametrize(("text", "value"), [
    ("一千六百三十一", 1631), ("十二", 12), ("十", 10), ("两万三千", 23000), ("四", 4),
    ("一百零五", 105), ("三亿五千万", 350_000_000), ("九百", 900),
])
def test_chinese_numerals(text, value):
    assert parse_chinese(text) == value


def test_not_a_numeral():
    assert parse_chinese("十里江山") is None
    assert parse_chinese("") is None


@pytest.mark.parametrize(("text", "value"), [
    ("3.493亿", Decimal("349300000")), ("1,236", Decimal(1236)), ("87196", Decimal(87196)),
    ("5.8万", Decimal(58000)), ("一千六百三十一", Decimal(1631)),
])
def test_parse_number(text, value):
    assert parse_number(text) == value


def one(text):
    found = mentions(text)
    assert len(found) == 1, found
    return found[0]


def test_money_units_fold_their_scale_into_the_value():
    m = one("年计划投资3.493亿元")
    assert (m.value, m.unit, m.written) == (Decimal("349300000"), "元", "3.493亿")
    m = one("全年任务数46660万元")
    assert (m.value, m.unit) == (Decimal("466600000"), "元")
    m = one("实际到位资金2157万美元")
    assert (m.value, m.unit) == (Decimal("21570000"), "美元")
    m = one("此次改造涉及5.8万㎡")
    assert (m.value, m.unit) == (Decimal(58000), "㎡")
    assert one("拆除面积9000平方米").unit == "㎡"


def test_longest_unit_wins():
    assert one("参与人员6800人次").unit == "人次"
    assert one("清理小区庭院400个次").unit == "个次"
    assert one("服务对象200人").unit == "人"


@pytest.mark.parametrize(("text", "approx", "low", "high"), [
    ("调处纠纷400余起", "余", 400, 500),
    ("挽回损失11万余元", "余", 110000, 120000),
    ("开展活动50多次", "多", 50, 60),
    ("约300人", "约", 270, 330),
    ("近100户", "近", 90, 100),
])
def test_approximations_carry_a_range(text, approx, low, high):
    m = one(text)
    assert m.approx == approx
    assert m.low == low and m.high == high


def test_approximate_above_is_open():
    m = one("覆盖居民500人以上")
    assert m.approx == "以上" and m.low == 500 and m.high > 10**9


def test_约_and_余_together_keep_the_wider_reading():
    m = one("拆除违章搭建约9000余平方米")
    assert m.approx == "余" and m.high == 10000


def test_percentages_keep_their_decimals():
    m = one("完成进度75.33%")
    assert (m.value, m.unit, m.decimals) == (Decimal("75.33"), "%", 2)


def test_dates_ordinals_codes_and_word_numerals_are_not_quantities():
    text = ("2021年4月6日启动CY203-B07地块第一剂接种,一是加强党建,坚持一人一档、三纵三横,"
            "1-9月完成,80岁以上老人,建党100周年")
    assert [m.text for m in mentions(text)] == []


def test_chinese_numerals_need_a_unit():
    assert [m.value for m in mentions("全年在建重大项目四个(玖悦府)")] == [4]
    assert mentions("三单服务模式") == []


def test_periods_and_what_is_counted():
    ms = mentions("1-9月利用外资实际到位资金2157万美元,完成进度75.42%;全年任务数46660万元")
    assert ms[0].period.startswith("1-9月") and ms[0].before.endswith("实际到位资金")
    assert ms[2].period == "全年"
    m = mentions("包括30家联网直报单位")[0]
    assert m.counts == "联网直报单位"
    assert mentions("其中,房地产8家")[0].counts == "房地产"

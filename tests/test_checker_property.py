"""Property-based: generated consistent paragraphs give no finding; changing one total gives
exactly one finding, at that number."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jiedao.checker.engine import check_text
from jiedao.checker.findings import Kind

LABELS = ["建筑业", "服务业", "房地产", "财贸", "工业", "家庭纠纷", "邻里纠纷", "物业纠纷", "老旧小区",
          "商品房小区", "安置小区", "低保户", "困难职工", "残疾人家庭", "公购房", "市证房屋", "线上招聘",
          "线下招聘", "党员志愿者", "青年志愿者", "兰宫路社区", "新光社区", "综合执法队"]
SUBJECTS = ["辖区企业", "全年调解矛盾纠纷", "走访慰问", "新增就业岗位", "排查场所", "拆迁房屋"]
UNITS = ["家", "户", "个", "起", "条", "处", "栋", "份", "场"]
NAMES = ["玖悦府", "大名城", "西江悦", "中粮大悦城", "国金滨江", "博富大厦", "天虹塔楼", "富润大厦",
         "盈家大厦", "喜盈门设计师楼", "朝阳时代广场", "隆泰苑", "新琚花园"]
CN = ["", "一", "两", "三", "四", "五", "六", "七", "八", "九", "十", "十一", "十二", "十三"]
NOISE = ["街道深入贯彻落实各项决策部署,各项工作取得明显成效。", "1-10月固投完成24.46亿元,同比增长38.8%。",
         "受理各类涉稳案件64起,结案64起。", ""]

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def breakdowns(draw):
    """(text, offset of the total, total, sum of parts, template) for a consistent paragraph."""
    unit = draw(st.sampled_from(UNITS))
    labels = draw(st.lists(st.sampled_from(LABELS), min_size=2, max_size=6, unique=True))
    values = draw(st.lists(st.integers(min_value=1, max_value=5000), min_size=len(labels),
                           max_size=len(labels)))
    subject = draw(st.sampled_from(SUBJECTS))
    template = draw(st.sampled_from(["qizhong", "bracket", "trailing"]))
    noise = draw(st.sampled_from(NOISE))
    return unit, labels, values, subject, template, noise


def render(unit, labels, values, subject, template, noise, total):
    parts = [f"{label}{value}{unit}" for label, value in zip(labels, values, strict=True)]
    if template == "qizhong":
        head = f"{noise}{subject}共"
        return head + f"{total}{unit},其中" + "、".join(parts) + "。", len(head)
    if template == "bracket":
        head = f"{noise}{subject}共计"
        return head + f"{total}{unit}(" + "、".join(parts) + ")。", len(head)
    head = noise + ",".join(parts) + ",累计"
    return head + f"{total}{unit}。", len(head)


@SETTINGS
@given(breakdowns())
def test_consistent_breakdowns_give_no_finding(case):
    unit, labels, values, subject, template, noise = case
    text, _offset = render(*case, total=sum(values))
    report = check_text(text)
    assert report.findings == [], text
    assert any(c.kind == Kind.SUM for c in report.confirmed), text


@SETTINGS
@given(breakdowns(), st.data())
def test_changing_the_total_gives_one_finding_at_it(case, data):
    unit, labels, values, subject, template, noise = case
    parts_sum = sum(values)
    if template == "qizhong":
        # Parts after 其中 that cover less than 80% of the total read as highlights (by design,
        # see test_highlights_after_qizhong_are_left_alone), so raise it by at most a quarter.
        delta = data.draw(st.integers(min_value=-(parts_sum - 1), max_value=parts_sum // 4).filter(bool))
    else:
        delta = data.draw(st.integers(min_value=-(parts_sum - 1), max_value=parts_sum * 3).filter(bool))
    total = parts_sum + delta
    text, offset = render(*case, total=total)
    report = check_text(text)
    assert len(report.findings) == 1, (text, report.findings)
    finding = report.findings[0]
    assert finding.kind == Kind.SUM
    assert finding.start == offset and finding.quote == f"{total}{unit}"
    assert finding.arithmetic.endswith(f"= {parts_sum} ≠ {total}")


@st.composite
def named_lists(draw):
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=8, unique=True))
    subject = draw(st.sampled_from(["全年在建重大项目", "辖区已成型楼宇", "正在形成的楼宇"]))
    classifier = draw(st.sampled_from(["个", "栋", "处"]))
    return names, subject, classifier


@SETTINGS
@given(named_lists(), st.data())
def test_named_lists_against_their_count(case, data):
    names, subject, classifier = case
    text = f"{subject}{CN[len(names)]}{classifier}(" + "、".join(names) + ")。"
    assert check_text(text).findings == [], text
    if len(names) == 1:
        return  # one name in brackets after "two" may be a note (17栋(砖混结构)): not compared
    wrong = data.draw(st.integers(min_value=1, max_value=13).filter(lambda n: n != len(names)))
    text = f"{subject}{CN[wrong]}{classifier}(" + "、".join(names) + ")。"
    findings = check_text(text).findings
    assert [(f.kind, f.start, f.quote) for f in findings] == [
        (Kind.LIST_COUNT, len(subject), f"{CN[wrong]}{classifier}")], text


def test_highlights_after_qizhong_are_left_alone():
    text = "协调安置下岗失业人员360人,其中4050人员120人、困难群众45人。"
    assert check_text(text).findings == []

"""The checks, on the seed summary and on patterns of real work summaries.

Precision first: the seed's consistent arithmetic and a corpus of correct paragraphs must give
no finding, and the arithmetic the checker recognised is asserted too (so "no finding" means
"checked and right", not "not noticed")."""


import pytest

from jiedao.checker.engine import Expected, check_text
from jiedao.checker.findings import Kind, Severity
from jiedao.checker.lexicon import FILTER_NOTICE, Lexicon, Word
from jiedao.demo import SEED_SUMMARY

SEED = SEED_SUMMARY


@pytest.fixture(scope="module")
def seed_report():
    return check_text(SEED.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def seed_paragraphs():
    return SEED.read_text(encoding="utf-8").split("\n")


def test_seed_reports_exactly_its_three_inconsistencies_and_three_leftovers(seed_report):
    found = [(f.kind, f.quote, f.arithmetic) for f in seed_report.findings]
    assert found == [
        (Kind.FILTER_NOTICE, "敏感词,请谨慎使用。", ""),
        (Kind.EDIT_MARK, "(检查)", ""),
        (Kind.SUM, "30家", "10+5+8+7+1 = 31 ≠ 30"),
        (Kind.SUM, "7栋", "5+2+1 = 8 ≠ 7"),
        (Kind.SUM, "87196剂", "42345+38151+3229+242 = 83967 ≠ 87196"),
        (Kind.EDIT_MARK, "(检查)", ""),
    ]
    assert all(f.severity == Severity.ERROR for f in seed_report.findings)


def test_seed_findings_point_at_their_text(seed_report, seed_paragraphs):
    for f in seed_report.findings:
        assert seed_paragraphs[f.paragraph][f.start:f.end] == f.quote
        for start, end in f.related:
            assert seed_paragraphs[f.paragraph][start:end]
    parts = next(f for f in seed_report.findings if f.quote == "30家")
    quoted = [seed_paragraphs[parts.paragraph][s:e] for s, e in parts.related]
    assert quoted == ["10家", "5家", "8家", "7家", "1家"]
    assert "联网直报单位" in seed_paragraphs[parts.paragraph][parts.start:parts.start + 12]
    vaccine = next(f for f in seed_report.findings if f.quote == "87196剂")
    assert "剂次" in seed_paragraphs[vaccine.paragraph][vaccine.start - 4:vaccine.start]


def test_seed_consistent_arithmetic_is_recognised_and_holds(seed_report):
    confirmed = {(c.kind, c.arithmetic) for c in seed_report.confirmed}
    for expected in [
        (Kind.CLOSURE, "8+15+2 = 25"),  # 企业诉求 25: 办结 8, 转办 15, 解释 2
        (Kind.SUM, "10+1+2 = 13"),  # 13户(10户公购、1户场证、2户难以认定)
        (Kind.CLOSURE, "39 = 39"),  # 39个问题全部整改到位
        (Kind.CLOSURE, "64 = 64"),  # 受理64起,结案64起
        (Kind.PROGRESS, "35150万元 ÷ 46660万元 = 75.33%"),
        (Kind.PROGRESS, "3.001亿元 ÷ 3.493亿元 = 85.91%"),
        (Kind.LIST_COUNT, "4 = 4"),  # 四个(玖悦府、大名城、西江悦、中粮大悦城)
        (Kind.LIST_COUNT, "5 = 5"), (Kind.LIST_COUNT, "2 = 2"), (Kind.LIST_COUNT, "1 = 1"),  # buildings
        (Kind.LIST_COUNT, "6 = 6"),  # 玉兰路…翠菊路六条
    ]:
        assert expected in confirmed, expected
    # None of the confirmed spans is also reported.
    reported = {(f.paragraph, f.start) for f in seed_report.findings}
    assert not reported & {(c.paragraph, c.start) for c in seed_report.confirmed}


def test_seed_with_the_lexicon_flags_the_notice_once(seed_paragraphs):
    lexicon = Lexicon([Word("敏感词,请谨慎使用", FILTER_NOTICE), Word("扫黑除恶")])
    report = check_text("\n".join(seed_paragraphs), lexicon=lexicon)
    notices = [f for f in report.findings if f.kind == Kind.FILTER_NOTICE]
    assert len(notices) == 1
    words = [f for f in report.findings if f.kind == Kind.SENSITIVE]
    assert [w.quote for w in words] == ["扫黑除恶"] and words[0].severity == Severity.WARNING


# --- our own cases: inconsistent ------------------------------------------------------------

INCONSISTENT = [
    # (text, kind, quote, arithmetic)
    ("全年共调解矛盾纠纷86起,其中家庭纠纷32起、邻里纠纷28起、物业纠纷36起。", Kind.SUM, "86起",
     "32+28+36 = 96 ≠ 86"),
    ("慰问困难群众共计144户(低保户60户、低保边缘户50户、困难职工44户)。", Kind.SUM, "144户",
     "60+50+44 = 154 ≠ 144"),
    ("发放慰问金74100元,其中春节慰问金5万元、中秋慰问金2.5万元。", Kind.SUM, "74100元",
     "5万+2.5万 = 75000 ≠ 74100"),
    ("辖区共有楼宇7栋。其中已成型5栋,正在形成2栋,开发建设中1栋。", Kind.SUM, "7栋", "5+2+1 = 8 ≠ 7"),
    ("第一剂接种1000人,第二剂接种900人,累计接种剂次2000剂。", Kind.SUM, "2000剂", "1000+900 = 1900 ≠ 2000"),
    ("全年在建重大项目三个(玖悦府、大名城、西江悦、中粮大悦城)。", Kind.LIST_COUNT, "三个",
     "玖悦府、大名城、西江悦、中粮大悦城: 4 ≠ 3"),
    ("成立了党建、安全、环境、民生三个工作组。", Kind.LIST_COUNT, "三个",
     "成立了党建、安全、环境、民生: 4 ≠ 3"),
    ("年计划投资3.493亿元,1-10月累计投资3.001亿元,已完成80.5%。", Kind.PROGRESS, "80.5%",
     "3.001亿元 ÷ 3.493亿元 = 85.91% ≠ 80.5%"),
    ("全年任务数5000万元,1-9月完成4000万元,完成进度75%。", Kind.PROGRESS, "75%",
     "4000万元 ÷ 5000万元 = 80% ≠ 75%"),
    ("2021年实现税收1.2亿元,2020年税收1亿元,同比增长25%。", Kind.GROWTH, "25%",
     "(1.2亿元 − 1亿元) ÷ 1亿元 = 20% ≠ 25%"),
    ("2021年招商引资6000万元,比2020年的8000万元下降20%。", Kind.GROWTH, "20%",
     "(6000万元 − 8000万元) ÷ 8000万元 = 25% ≠ 20%"),
    ("受理群众来信来访45件,办结47件。", Kind.CLOSURE, "47件", "47 > 45"),
    ("共收到12345热线工单1,236件,已全部办结1,230件。", Kind.CLOSURE, "1,230件", "1230 < 1236"),
    ("共排查出安全隐患120处,已整改115处,整改率100%。", Kind.CLOSURE, "115处", "115 < 120"),
    ("全年受理信访件58件,结案58件,结案率98.3%。", Kind.RATE, "98.3%", "58 / 58 = 100% ≠ 98.3%"),
    ("收集企业诉求25条,已办结10条,转办15条,解释说明2条。", Kind.CLOSURE, "25条", "10+15+2 = 27 > 25"),
]


@pytest.mark.parametrize(("text", "kind", "quote", "arithmetic"), INCONSISTENT)
def test_inconsistent_cases_give_exactly_one_finding(text, kind, quote, arithmetic):
    report = check_text(text)
    assert [(f.kind, f.quote, f.arithmetic) for f in report.findings] == [(kind, quote, arithmetic)]
    f = report.findings[0]
    assert text[f.start:f.end] == quote
    assert f.message


def test_a_shortfall_is_a_warning_an_excess_an_error():
    short = check_text("共有小区12个,其中老旧小区5个、商品房小区4个、安置小区2个。").findings
    assert [(f.severity, f.arithmetic) for f in short] == [(Severity.WARNING, "5+4+2 = 11 ≠ 12")]
    over = check_text("共有小区12个,其中老旧小区5个、商品房小区4个、安置小区4个。").findings
    assert [(f.severity, f.arithmetic) for f in over] == [(Severity.ERROR, "5+4+4 = 13 ≠ 12")]


def test_approximate_figures_compare_with_their_tolerance():
    # 400余 covers 400–499: 300余 + 101 fits; 401 never conflicts hard.
    assert check_text("开展志愿服务400余次,其中助老服务300余次、助残服务101次。").findings == []
    assert check_text("调处纠纷400余起,其中家庭纠纷200起、邻里纠纷201起。").findings == []
    far = check_text("开展志愿服务400余次,其中助老服务500次、助残服务101次。").findings
    assert [(f.severity, f.kind) for f in far] == [(Severity.WARNING, Kind.SUM)]


def test_different_units_are_not_summed():
    assert check_text("参与群众3000人次,其中党员120人、群众2880人。").findings == []
    assert check_text("参与群众3000人,其中党员120人次、群众2880人次。").findings == []


def test_a_list_marked_partial_is_not_a_shortfall():
    assert check_text("辖区共有小区12个,其中老旧小区5个、商品房小区4个等。").findings == []


def test_cross_sentence_breakdown_counts():
    report = check_text("辖区共有楼宇7栋。其中已成型5栋,正在形成2栋。")
    assert report.findings == [] and [c.arithmetic for c in report.confirmed] == ["5+2 = 7"]


# --- our own cases: consistent (a false-positive corpus) -----------------------------------

CONSISTENT = """\
全年共调解矛盾纠纷86起,其中家庭纠纷32起、邻里纠纷28起、物业纠纷26起,调解成功率100%。
慰问困难群众共计144户(低保户60户、低保边缘户50户、困难职工34户),发放慰问金74100元,其中春节慰问金5万元、中秋慰问金2.41万元。
新增就业岗位一千六百三十一个,其中线上招聘九百个、线下招聘七百三十一个。
2021年实现税收1.2亿元,2020年税收1亿元,同比增长20%;1-10月固投完成24.46亿元,同比增长38.8%。
组织学习活动132次,其中集中学习80次,专题研讨40次,观看警示片12次;函询谈话3人,诫勉谈话2人。
受理信访件58件,结案58件,结案率100%;排查出安全隐患540余处,已全部整改到位。
成立了党建、安全、环境三个工作组,分别由3名副主任牵头。
第一剂接种1000人,第二剂接种900人,累计接种剂次1900剂。
清理垃圾500余车,清除小广告8000余条,共计出动人员1200余人次。
共收集意见建议106条,为群众协调解决问题81个,其中解决停车难问题12个、加装电梯3部。
走访企业1396家(含重复走访)、个体户1631家,收集诉求25条,已办结8条,转办15条,解释说明2条。
辖区共有个体经营户1631家、注册企业1229家,其中规上企业40家、限上企业35家等。
截至目前,辖区内重点地区来(返)昌人员782人,境外来(返)昌人员52人,密接8人、次密接92人,核酸检测961人次,检测率100%。
实际利用内资49310万元,完成进度75.46%,其中利用省外资金全年任务数46660万元,1-9月完成35150万元,完成进度75.33%。
对辖区内“一户一策”的120户困难家庭,每月上门2次,全年累计上门2880户次。
累计清理小区庭院400余个次,清理楼道杂物500余处,清理各类垃圾杂物500余车。
街道12名科级领导干部走访认亲辖区重点规上企业40家,收集到企业诉求25条、建议3条。
招聘会2场,提供就业岗位525个,协调安置下岗失业人员360人,其中4050人员120人、困难群众45人。
"""


def test_false_positive_corpus_gives_no_finding():
    report = check_text(CONSISTENT)
    assert report.findings == [], [(f.quote, f.arithmetic) for f in report.findings]
    # …and the corpus's arithmetic was actually read:
    arithmetic = {c.arithmetic for c in report.confirmed}
    assert {"32+28+26 = 86", "60+50+34 = 144", "5万+2.41万 = 74100", "900+731 = 1631", "80+40+12 = 132",
            "58 = 58", "1000+900 = 1900", "3 = 3", "8+15+2 = 25"} <= arithmetic


# Paragraphs in the style of other streets' summaries: partial 其中 lists, rates, shares, years.
CONSISTENT_MORE = """\
全年共召开党工委会议24次,专题研究党建工作12次,开展“三会一课”216次,发展党员8名,转正预备党员6名。
街道现有党员1286名,其中在职党员642名、离退休党员598名、流动党员46名。
辖区共有社区6个、网格42个,配备专职网格员42名、兼职网格员126名。
全年新增市场主体586户,其中企业213户、个体工商户373户;新增“四上”企业5家。
完成城镇新增就业1560人,完成年度目标任务的130%;发放创业担保贷款850万元。
累计接待来访群众1200余人次,受理信访事项86件,办结82件,办结率95.35%,群众满意率98%以上。
开展安全生产检查320次,出动检查人员1280人次,检查企业(门店)860家次,发现隐患236处,已整改236处,整改率100%。
投入资金1200万元,改造老旧小区3个(灌婴路南区、凉伞树小区、电厂宿舍),惠及居民1560户。
全年组织志愿服务活动260场次,参与志愿者3600人次,服务时长1.2万小时。
2021年完成一般公共预算收入3.2亿元,较2020年的2.8亿元增长14.3%。
完成固定资产投资12.5亿元,占全年任务的104.2%;其中工业投资3.2亿元、技改投资1.1亿元。
实现社会消费品零售总额18.6亿元,同比增长12.5%,增速位列全区第二。
全面完成第七次全国人口普查工作,共登记户数2.3万户、人口6.8万人。
疫苗接种:18岁以上人群第一剂接种覆盖率达98.6%,全程接种率96.2%,加强针接种1.2万人。
组织开展“扫黄打非”、禁毒等专项宣传活动36场,发放宣传资料1.2万份,受教育群众8000余人。
建立“一户一档”困难群众台账,低保户186户312人、特困供养人员23人、残疾人家庭95户全部纳入。
"""


def test_second_false_positive_corpus_gives_no_finding():
    report = check_text(CONSISTENT_MORE)
    assert report.findings == [], [(f.quote, f.arithmetic) for f in report.findings]
    assert {c.arithmetic for c in report.confirmed} >= {
        "642+598+46 = 1286", "213+373 = 586", "82 / 86 = 95.35%", "236 / 236 = 100%",
        "(3.2亿元 − 2.8亿元) ÷ 2.8亿元 = 14.29%", "3 = 3"}


# --- figures from jiedao's own records plug in ---------------------------------------------

class FakeRegistry:
    def __init__(self):
        self.asked = []

    def expected_for(self, paragraph, mention):
        self.asked.append(mention.text)
        if "服务对象" in mention.before and mention.unit == "人":
            return Expected(value=198, label="服务对象人数", source="service.objects")
        return None


def test_an_expected_figures_source_plugs_in():
    registry = FakeRegistry()
    report = check_text("截至目前,街道服务对象共计200人,建立健康档案200份。", expected=registry)
    assert registry.asked == ["200人", "200份"]
    assert [(f.kind, f.quote, f.arithmetic) for f in report.findings] == [
        (Kind.FIGURE, "200人", "200人 ≠ 198人 (service.objects)")]
    assert check_text("街道服务对象共计198人。", expected=registry).findings == []


def test_the_default_source_compares_nothing():
    assert check_text("街道服务对象共计200人。").findings == []

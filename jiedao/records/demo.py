"""Demo work records for `jiedao demo` (deterministic, idempotent).

朝农街道 gets a sample of every record type, dated in 2021; its meeting, visit and inspection
cases are partly run through the case loop so the solved / rectified counts show. Economic
indicators get targets and monthly cumulative figures for 2020 and 2021 (1–10月; 十字街街道
only to 9月, so the October 通报 shows an unranked street) for the five streets of 西湖区.
朝农's figures are the seed's (外资 1-9月 2157 万美元 = 75.42%, 固投 1-10月 24.46 亿元, +38.8% …);
the other streets' are invented so that the computed ranks match the seed's "全区第N".

Each section is skipped when its first record already exists, and indicator figures are set
only when they differ, so a second run writes nothing.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

from django.utils import timezone

from jiedao.audit.trail import Actor, atomic
from jiedao.core.models import OrgUnit

from . import services
from .models import (
    ActivityType,
    EnterpriseVisit,
    Indicator,
    Inspection,
    InsuranceEnrolment,
    Meeting,
    PlanItem,
    ReliefVisit,
    Tally,
)

STREET = "360103012"
OTHERS = ["360103001", "360103002", "360103006", "360103008"]  # 南浦 朝阳洲 桃源 十字街
CENT = Decimal("0.01")

# code: (朝农 target, 朝农 actual at the reference month, reference month, 朝农 YoY growth,
#        the others' progress at the reference month, the others' targets relative to 朝农's)
INDICATOR_FIGURES = {
    "foreign-capital": ("2860", "2157", 9, "0.12",
                        ["0.80", "0.7710", "0.70", "0.66"], ["1.2", "0.8", "0.6", "0.9"]),
    "domestic-capital": ("65346", "49310", 9, "0.09",
                         ["0.79", "0.74", "0.70", "0.72"], ["1.1", "0.9", "0.7", "1.0"]),
    "out-of-province-capital": ("46660", "35150", 9, "0.07",
                                ["0.81", "0.79", "0.77", "0.70"], ["1.0", "0.8", "0.9", "0.7"]),
    "fixed-asset-investment": ("30", "24.46", 10, "0.388",
                               ["0.78", "0.86", "0.74", "0.80"], ["1.3", "0.7", "0.8", "0.6"]),
    "service-revenue": ("7.2", "5.99", 10, "0.15",
                        ["0.84", "0.80", "0.80", "0.76"], ["1.5", "1.0", "0.6", "0.8"]),
    "retail-sales": ("1300", "1082.5", 10, "0.389",
                     ["0.81", "0.88", "0.79", "0.83"], ["2.0", "1.2", "0.9", "1.1"]),
    "tax-revenue": ("18000", "15120", 10, "0.06",
                    ["0.86", "0.83", "0.81", "0.84"], ["1.4", "0.9", "0.7", "0.8"]),
    "new-building-enterprises": ("240", "203", 10, "0.10",
                                 ["0.80", "0.90", "0.85", "0.78"], ["1.0", "0.8", "0.5", "0.6"]),
}
OTHER_GROWTH = ["0.05", "0.11", "-0.03", "0.08"]
LAST_MONTH = {"360103008": 9}  # 十字街: October not yet reported


def _d(text: str) -> Decimal:
    return Decimal(text)


def _q(value: Decimal) -> Decimal:
    return value.quantize(CENT, ROUND_HALF_UP)


def load_indicators(by: Actor, units: dict[str, OrgUnit], years=(2020, 2021),
                    months: int = 10) -> int:
    """Targets and cumulative monthly figures; returns how many figures were written."""
    from .models import IndicatorTarget, IndicatorValue

    before = _count_values()
    # What is already there, so a second run reads once instead of once per figure.
    known_targets = {(t.indicator_id, t.org_unit_id, t.year): t.target
                     for t in IndicatorTarget.objects.all()}
    known_values = {(v.indicator_id, v.org_unit_id, v.year, v.month): v.actual
                    for v in IndicatorValue.objects.all()}
    for code, (target, actual, ref, growth, others, scales) in INDICATOR_FIGURES.items():
        indicator = Indicator.objects.filter(code=code).first()
        if indicator is None:
            continue
        plan = [(STREET, _d(target), _d(actual) / _d(target), _d(growth))]
        for i, street_code in enumerate(OTHERS):
            plan.append((street_code, _q(_d(target) * _d(scales[i])), _d(others[i]),
                         _d(OTHER_GROWTH[i])))
        for street_code, street_target, ref_progress, street_growth in plan:
            street = units.get(street_code)
            if street is None:
                continue
            last = LAST_MONTH.get(street_code, months)
            for year in years:
                factor = Decimal(1) if year == max(years) else Decimal(1) / (1 + street_growth)
                yearly_target = _q(street_target * factor)
                if known_targets.get((indicator.pk, street.pk, year)) != yearly_target:
                    services.indicator_target_set(by, indicator=indicator, street=street,
                                                  year=year, target=yearly_target)
                for month in range(1, (last if year == max(years) else 12) + 1):
                    if street_code == STREET and year == max(years) and month == ref:
                        value = _d(actual)  # the seed's own figure, exactly
                    else:
                        value = _q(street_target * ref_progress * month / ref * factor)
                    if known_values.get((indicator.pk, street.pk, year, month)) != value:
                        services.indicator_value_set(by, indicator=indicator, street=street,
                                                     year=year, month=month, actual=value)
    return _count_values() - before


def _count_values() -> int:
    from .models import IndicatorValue

    return IndicatorValue.objects.count()


def _at(day: dt.date, hour: int = 10) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


def _finish(by: Actor, case, outcome: str, day: dt.date) -> None:
    from jiedao.cases import services as cases

    cases.dispatch(by, case, version=None, handler_unit=case.street, at=_at(day, 11))
    cases.accept(by, case, version=None, at=_at(day, 12))
    cases.resolve(by, case, version=None, outcome=outcome, note="已协调处理", at=_at(day, 16))


TALLIES = [  # (unit key, date, activity, quantity, note)
    ("360103012/城管办", "2021-03-12", "清理楼道杂物", "86", "春季环境整治"),
    ("360103012/城管办", "2021-03-12", "清理垃圾杂物", "42", ""),
    ("360103012/城管办", "2021-04-20", "清除垃圾广告", "1260", ""),
    ("360103012/城管办", "2021-05-08", "规范非机动车", "5300", "含共享单车"),
    ("360103012/城管办", "2021-06-15", "拆除违章搭建", "680.5", "银燕物流园区"),
    ("360103012001", "2021-05-20", "开展活动", "6", "文明创建帮创"),
    ("360103012001", "2021-05-20", "参与人员", "320", ""),
    ("360103012001", "2021-06-01", "发放宣传资料", "900", "垃圾分类、燃气安全"),
    ("360103012002", "2021-07-03", "打捞河面漂浮物", "12", "巡河"),
    ("360103012/综治中心", "2021-08-10", "发放反诈宣传资料", "1500", ""),
    ("360103012/社会事务办", "2021-08-31", "核酸检测", "961", "截至8月底"),
    ("360103012/社会事务办", "2021-08-31", "密接", "8", ""),
    ("360103012/社会事务办", "2021-08-31", "重点地区来(返)昌人员", "782", ""),
    ("360103012/社会事务办", "2021-09-30", "疫苗接种(第一剂)", "42345", "灭活疫苗"),
    ("360103012/社会事务办", "2021-09-30", "疫苗接种(第二剂)", "38151", "灭活疫苗"),
    ("360103012/社会事务办", "2021-10-31", "疫苗接种(加强针)", "242", "灭活疫苗第三剂"),
]

MEETINGS = [  # (unit, kind, date, place, topic, attendance, suggestions with outcome or None)
    ("360103012001", "four_party", "2021-04-16", "兰宫路社区党群服务站", "红管家:小区停车管理",
     {"community": (3, ""), "property": (2, ""), "merchant": (2, ""), "resident": (6, "")},
     [("凉伞树小区增设电动车停车棚", "solved"), ("规范小区机动车停放", "solved"),
      ("楼道堆物清理", None)]),
    ("360103012002", "roundtable", "2021-05-21", "十里江山小区", "十里江山小区废弃景观池改造",
     {"community": (2, ""), "resident": (9, "")},
     [("十里江山小区废弃景观池改造", "solved"), ("灌婴路小区新增休闲椅", "solved"),
      ("小区路灯维修", "explained")]),
    ("360103012/综治中心", "joint", "2021-09-28", "街道综治中心", "物业服务纠纷协调",
     {"department": (5, ""), "property": (3, ""), "community": (3, "")},
     [("泰江来小区楼顶晾晒问题", "solved"), ("物业费收缴纠纷调处", None)]),
]

INSPECTIONS = [  # (unit, date, kind, premises kind, premises, inspectors, hazards with rectified?)
    ("360103012001001", "2021-06-10", "fire", "shop", "兰宫路12号沿街店铺", 2,
     [("灭火器过期", True), ("疏散通道堆放杂物", True)]),
    ("360103012001001", "2021-09-10", "fire", "shop", "兰宫路12号沿街店铺", 2, []),
    ("360103012/城管办", "2021-07-22", "safety", "warehouse", "银燕物流园区3号仓库", 4,
     [("电线私拉乱接", True), ("仓库内电动车充电", False)]),
    ("360103012002", "2021-08-05", "fire", "building_unit", "十里江山小区5栋2单元", 2,
     [("消防通道被汽车占用", True)]),
]


def load(by: Actor, units: dict[str, OrgUnit]) -> list[str]:
    """Load the demo records; return lines for the command to print."""
    lines: list[str] = []
    street = units.get(STREET)
    if street is None:
        return lines
    with atomic():
        written = load_indicators(by, units)
    lines.append(f"经济指标:{len(INDICATOR_FIGURES)} 项 × {1 + len(OTHERS)} 个街道,"
                 f"2020–2021 年逐月累计(本次写入 {written} 条)")

    if not Tally.objects.filter(org_unit__path__startswith=street.path).exists():
        with atomic():
            for key, day, name, quantity, note in TALLIES:
                activity = ActivityType.objects.filter(name=name).first()
                if activity and key in units:
                    services.tally_create(by, org_unit=units[key], date=dt.date.fromisoformat(day),
                                          activity=activity, quantity=_d(quantity), note=note)
        lines.append(f"工作量:{len(TALLIES)} 条")

    if not Meeting.objects.filter(org_unit__path__startswith=street.path).exists():
        with atomic():
            for key, kind, day, place, topic, attendance, suggestions in MEETINGS:
                date = dt.date.fromisoformat(day)
                meeting = services.meeting_create(
                    by, org_unit=units[key], kind=kind, date=date, place=place, topic=topic,
                    minutes="各方围绕议题充分讨论,形成处理意见。", attendance=attendance,
                    suggestions=[text for text, _outcome in suggestions], at=_at(date, 17))
                for row, (_text, outcome) in zip(meeting.suggestions.all(), suggestions,
                                                 strict=True):
                    if outcome:
                        _finish(by, row.case, outcome, date + dt.timedelta(days=7))
        lines.append(f"会议议事:{len(MEETINGS)} 场(意见建议转为工单)")

    if not EnterpriseVisit.objects.filter(org_unit__path__startswith=street.path).exists():
        with atomic():
            lines.append(_load_visits(by, units, street))

    if not ReliefVisit.objects.filter(org_unit__path__startswith=street.path).exists():
        with atomic():
            for household, group, amount in (("张建华", "dibao", "600"),
                                             ("李桂英", "dibao_edge", "500"),
                                             ("王国强", "hardship_worker", "500"),
                                             ("刘秀兰", "hardship_resident", "400")):
                services.relief_create(by, org_unit=street, date=dt.date(2021, 2, 5),
                                       occasion="2021年春节走访慰问", household=household,
                                       group=group, amount=_d(amount))
            services.job_fair_create(by, org_unit=street, date=dt.date(2021, 5, 12),
                                     title="送岗进校园", positions=300, placed=210)
            services.job_fair_create(by, org_unit=street, date=dt.date(2021, 9, 18),
                                     title="金秋庆双节、稳岗促就业", positions=225, placed=150)
        lines.append("走访慰问:4 户;招聘会:2 场")

    if not InsuranceEnrolment.objects.filter(org_unit=street).exists():
        with atomic():
            for kind, total, new in (("medical", 7241, 379), ("pension", 936, 0),
                                     ("maternity", 284, 0)):
                services.insurance_record(by, org_unit=street, as_of=dt.date(2021, 10, 31),
                                          kind=kind, total=total, new=new)
        lines.append("参保办理:3 项")

    if not Inspection.objects.filter(org_unit__path__startswith=street.path).exists():
        with atomic():
            for key, day, kind, pkind, premises, inspectors, hazards in INSPECTIONS:
                date = dt.date.fromisoformat(day)
                inspection = services.inspection_create(
                    by, org_unit=units[key], date=date, kind=kind, premises_kind=pkind,
                    premises=premises, inspectors=inspectors,
                    hazards=[text for text, _done in hazards], at=_at(date, 17))
                for row, (_text, done) in zip(inspection.hazards.all(), hazards, strict=True):
                    if done:
                        _finish(by, row.case, "solved", date + dt.timedelta(days=3))
        lines.append(f"消防安全排查:{len(INSPECTIONS)} 次(隐患转为工单)")

    if not PlanItem.objects.filter(org_unit=street).exists():
        with atomic():
            lines.append(_load_plan(by, street))
    return lines


def _load_visits(by: Actor, units: dict[str, OrgUnit], street: OrgUnit) -> str:
    from jiedao.accounts.models import User
    from jiedao.ledgers.models import Enterprise

    leader = User.objects.filter(username="lingdao").first()
    enterprises = list(Enterprise.objects.filter(org_unit__path__startswith=street.path,
                                                 archived_at__isnull=True,
                                                 kind="registered").order_by("pk")[:3])
    count = 0
    plan = [("2021-03-15", "王建国", ["用工招聘难", "周边道路停车难"], ["希望加强政策宣讲"]),
            ("2021-06-20", "王建国", ["办公楼消防设施维修"], []),
            ("2021-09-09", "李敏", [], [])]
    for i, (day, visitor, demands, suggestions) in enumerate(plan):
        enterprise = enterprises[i % len(enterprises)] if enterprises else None
        visit = services.enterprise_visit_create(
            by, org_unit=street, date=dt.date.fromisoformat(day), visitor=leader,
            visitor_name=visitor, target_kind="enterprise", enterprise=enterprise,
            target_name="" if enterprise else "国金滨江置业有限公司",
            note="了解企业经营情况,宣讲惠企政策。", demands=demands, suggestions=suggestions,
            at=_at(dt.date.fromisoformat(day), 17))
        count += 1
        for item, outcome in zip(visit.items.all(), ("solved", "transferred", "explained"),
                                 strict=False):
            _finish(by, item.case, outcome, visit.date + dt.timedelta(days=10))
    for day, name in (("2021-04-02", "张记早餐店"), ("2021-04-02", "兰宫路便利店"),
                      ("2021-08-16", "张记早餐店")):
        services.enterprise_visit_create(by, org_unit=units.get("360103012001", street),
                                         date=dt.date.fromisoformat(day), visitor_name="陈芳",
                                         target_kind="individual", target_name=name)
        count += 1
    if leader and enterprises:
        for enterprise in enterprises[:2]:
            services.key_enterprise_add(by, org_unit=street, year=2021, leader=leader,
                                        enterprise=enterprise)
    return f"走访认亲:{count} 次(含重复走访)"


PLAN = [
    ("夯实党建基础,推进“三化”建设", "党建办", "加速推进党建“三化”建设,完善党群服务“365”服务体系", None),
    ("紧抓重点项目,优化营商环境", "经济发展办", "全力推进中粮大悦城等在建重大项目建设",
     "fixed-asset-investment"),
    ("紧抓重点项目,优化营商环境", "经济发展办", "全力做好企业升规入统工作,做大经济总量",
     "service-revenue"),
    ("开展环境整治,改善市容市貌", "城管办", "继续规范兰宫路、云飞路夏季夜市市场运营", None),
    ("优化服务举措,强化为民服务", "社会事务办", "以“幸福圆桌会”为服务基点,倾听民意,排解民忧", None),
    ("抓牢信访安全,维护社会稳定", "综治中心", "每月组织相关职能部门召开联席会议协调解决问题", None),
]


def _load_plan(by: Actor, street: OrgUnit) -> str:
    for sort, (section, owner, text, indicator_code) in enumerate(PLAN, start=1):
        indicator = Indicator.objects.filter(code=indicator_code).first() if indicator_code else None
        services.plan_item_save(by, org_unit=street, year=2022, section=section, text=text,
                                owner=owner, indicator=indicator, sort=sort * 10)
    return f"2022年工作计划:{len(PLAN)} 项"

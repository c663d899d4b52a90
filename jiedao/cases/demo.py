"""Demo cases for `jiedao demo`: every kind, every state, in 朝农街道 (deterministic, idempotent).

Each case is replayed through the services with dated steps (``at=``), by the demo personas
— 陈芳 (shequ) dispatches for 兰宫路社区, 李敏 (keshi) handles for 城管办, 王建国 (lingdao)
dispatches for the other communities, supervises and owns cases (包案), 刘洋 (wangge) reports
from his grid, 红管家志愿服务队 (fuwu) fulfils service orders — so the timeline, the audit
trail and the inbox notifications are exactly what the real pages would have written.

Two kinds of dates: a 2021 history (the seed's year, all closed) and recent weeks counted back
from now, so that the inboxes have cases waiting to be dispatched, due soon and overdue.

Idempotent: a case whose title and requester already exist in the street is skipped, so a
second run creates nothing. Outbound SMS/企业微信 are muted while loading (the inbox rows are
written): replaying a history must not text anyone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from jiedao.accounts.models import User
from jiedao.audit.trail import Actor

from . import messaging, services
from .deadlines import deadline_for
from .models import Case, Category, Channel, Priority
from .public import PUBLIC_ACTOR_LABEL

STREET = "360103012"
LANGONG, SHILI, TAIJIANG = "360103012001", "360103012002", "360103012003"
GRID1 = "360103012001001"
CHENGGUAN, ZONGZHI, SHIWU, JINGJI = ("360103012/城管办", "360103012/综治中心", "360103012/社会事务办",
                                     "360103012/经济发展办")
PERSONAS = ("shequ", "keshi", "lingdao", "wangge", "fuwu")


def _at(year: int, month: int, day: int, hour: int = 9, minute: int = 0) -> dt.datetime:
    return timezone.make_aware(dt.datetime(year, month, day, hour, minute))


@dataclass
class Spec:
    title: str
    category: str
    channel: str
    unit: str
    created: Any  # a datetime, or ("ago", days, hours) counted back from now, or ("due_soon",)
    by: str
    name: str = ""
    phone: str = ""
    address: str = ""
    description: str = ""
    priority: str = Priority.NORMAL
    # (hours after intake, action, actor, kwargs)
    steps: list[tuple[float, str, str, dict]] = field(default_factory=list)


def _solved(note: str) -> dict:
    return {"outcome": "solved", "note": note}


def _happy(handler: str, hours: float, note: str, unit: str | None = None, dispatcher: str = "shequ",
           satisfied: bool = True, rating: int = 5, reviewer: str = "shequ") -> list:
    """派单 → 签收 → 办结 → 回访: the common path, spread over ``hours``."""
    doer = handler or ("keshi" if unit == CHENGGUAN else dispatcher)
    target = {"handler": handler} if handler else {}
    if unit:
        target["handler_unit"] = unit
    return [
        (0.5, "dispatch", dispatcher, target),
        (1.5, "accept", doer, {}),
        (hours, "resolve", doer, _solved(note)),
        (hours + 20, "review", reviewer, {"satisfied": satisfied, "solved": True, "rating": rating}),
    ]


SPECS: list[Spec] = [
    # --- the 2021 history: every kind, closed ---------------------------------------------------------
    Spec("十里江山小区废弃景观池改造", "suggestion-roundtable", Channel.ROUNDTABLE, SHILI,
         _at(2021, 4, 16, 15),
         "lingdao", "吴秀兰", "13907910001", "十里江山小区中心花园",
         "幸福圆桌会上居民提出:小区废弃景观池积水发臭、滋生蚊虫,希望改造成休闲场地。",
         steps=_happy("", 24 * 20, "联合物业将景观池填平改造为休闲广场,增设座椅 6 处。", unit=CHENGGUAN,
                      dispatcher="lingdao", reviewer="lingdao")),
    Spec("泰江来小区楼顶晾晒问题", "dispute-public", Channel.ROUNDTABLE, TAIJIANG, _at(2021, 5, 10, 10),
         "lingdao", "胡建华", "13907910002", "泰江来小区 3 栋楼顶",
         "顶楼住户锁闭楼顶通道,其他住户无法上楼顶晾晒,双方多次争吵。",
         steps=_happy("", 24 * 6, "红管家联席会议协调:楼顶通道恢复开放,划分晾晒区域,双方签订公约。",
                      unit=ZONGZHI, dispatcher="lingdao", reviewer="resident")),
    Spec("灌婴路小区新增休闲椅", "suggestion-roundtable", Channel.ROUNDTABLE, LANGONG, _at(2021, 6, 3, 16),
         "shequ", "李桂英", "13907910003", "灌婴路小区南区",
         "老人们反映小区里没有地方坐,希望在树荫下增加休闲椅。",
         steps=_happy("", 24 * 9, "在南区树荫下安装休闲椅 10 张。", unit=CHENGGUAN, rating=5)),
    Spec("凉伞树小区电动车停车棚", "suggestion-roundtable", Channel.ROUNDTABLE, LANGONG, _at(2021, 6, 21, 15),
         "shequ", "黄志强", "13907910004", "凉伞树小区",
         "电动车在楼道充电有火灾隐患,希望搭建停车棚和集中充电设施。",
         steps=_happy("", 24 * 30, "搭建电动车停车棚 7 处,安装智能充电桩 48 个。", unit=CHENGGUAN, rating=5)),
    Spec("楼道杂物堆放(兰宫路 8 栋)", "event-cityscape", Channel.PATROL, GRID1, _at(2021, 7, 6, 9, 30),
         "wangge", "", "", "兰宫路 8 栋 2 单元",
         "网格巡查发现 2 单元楼道堆放纸箱、旧家具,影响通行。",
         steps=[(0.3, "claim_self", "wangge", {}),
                (26, "resolve", "wangge", _solved("通知住户自行清理,剩余杂物由网格员协同物业清运 1 车。")),
                (50, "close", "shequ", {"note": "现场复核已清理干净"})]),
    Spec("消防通道堵塞(兰宫路小区北门)", "safety-fire", Channel.INSPECTION, LANGONG, _at(2021, 8, 12, 14),
         "shequ", "", "", "兰宫路小区北门",
         "消防安全排查发现北门消防通道被私家车长期占用。",
         steps=_happy("keshi", 30, "联合交警劝离占道车辆 5 辆,施划禁停标线并设置消防通道标识。",
                      unit=CHENGGUAN, rating=4)),
    Spec("企业用工诉求:招聘普工 30 人", "ent-elements", Channel.VISIT, STREET, _at(2021, 9, 2, 10),
         "lingdao", "江西某物流有限公司 刘经理", "13907910005", "银燕物流园区",
         "走访认亲时企业提出旺季缺普工 30 人,希望街道帮助对接招聘。",
         steps=[(1, "dispatch", "lingdao", {"handler_unit": JINGJI}),
                (3, "accept", "lingdao", {}),
                (24 * 4, "resolve", "lingdao", {"outcome": "transferred",
                                                "note": "已转区人社局组织专场招聘会,企业报名参加。"}),
                (24 * 5, "review", "resident", {"satisfied": True, "solved": True, "rating": 4})]),
    Spec("企业诉求:厂区门前道路破损", "ent-environment", Channel.VISIT, STREET, _at(2021, 9, 8, 15),
         "lingdao", "南昌某食品有限公司 王总", "13907910006", "玉兰路 66 号",
         "企业门前道路坑洼,货车进出困难。",
         steps=[(1, "dispatch", "lingdao", {"handler_unit": CHENGGUAN}),
                (2, "accept", "keshi", {}),
                (24 * 6, "resolve", "keshi", {"outcome": "explained",
                                              "note": "该路段已列入 2022 年市政道路改造计划,"
                                                      "已向企业解释说明并先行填补坑洼。"}),
                (24 * 7, "review", "lingdao", {"satisfied": True, "solved": False, "rating": 3})]),
    Spec("拖欠工资纠纷调解", "dispute-public", Channel.WALK_IN, STREET, _at(2021, 10, 11, 9, 20),
         "lingdao", "邓师傅", "13907910007", "朝农街道综治中心",
         "8 名工人反映某装修公司拖欠工资共 3.2 万元。",
         steps=[(0.5, "assign_owner", "lingdao", {"owner": "lingdao"}),
                (1, "dispatch", "lingdao", {"handler_unit": ZONGZHI}),
                (2, "accept", "lingdao", {}),
                (24 * 8, "resolve", "lingdao", _solved("组织劳资双方调解,公司分两期结清工资 3.2 万元。")),
                (24 * 9, "review", "resident", {"satisfied": True, "solved": True, "rating": 5})]),
    Spec("12345转办:夜间广场舞噪音扰民", "demand-12345", Channel.HOTLINE, SHILI, _at(2021, 10, 19, 21, 10),
         "lingdao", "匿名市民", "13907910008", "十里江山小区广场",
         "12345 热线转办:晚上 10 点后仍有广场舞音响,影响休息。",
         steps=_happy("", 24 * 2, "与广场舞队约定晚 9 点前结束并降低音量,社区每晚巡查一周。", unit=CHENGGUAN,
                      dispatcher="lingdao", reviewer="lingdao", rating=4)),
    Spec("信访:老旧小区改造施工扰民", "petition-general", Channel.LETTER, LANGONG, _at(2021, 11, 2, 10),
         "shequ", "陈国平", "13907910009", "灌婴路小区 5 栋",
         "来信反映改造施工每天 7 点前开工,噪音大。",
         steps=[(1, "assign_owner", "lingdao", {"owner": "lingdao"}),
                (2, "dispatch", "shequ", {"handler_unit": CHENGGUAN}),
                (3, "accept", "keshi", {}),
                (24 * 5, "resolve", "keshi", _solved("约谈施工单位,调整为 8:00–12:00、14:00–18:00 施工。")),
                (24 * 6, "review", "shequ", {"satisfied": True, "solved": True, "rating": 4})]),
    Spec("巡察反馈:社区台账资料不规范", "rectify-audit", Channel.AUDIT_FEEDBACK, STREET, _at(2021, 11, 15, 9),
         "lingdao", "", "", "",
         "区委第二巡察组反馈:部分社区台账资料不齐全、不规范。",
         steps=[(1, "assign_owner", "lingdao", {"owner": "lingdao"}),
                (2, "dispatch", "lingdao", {"handler_unit": SHIWU}),
                (3, "accept", "lingdao", {}),
                (24 * 25, "resolve", "lingdao", _solved("制定台账规范,逐社区检查整改,建立长效机制。")),
                (24 * 26, "close", "lingdao", {"note": "整改到位,资料归档"})]),
    Spec("上门家政服务(独居老人)", "svc-housekeeping", Channel.PHONE, LANGONG, _at(2021, 12, 6, 9),
         "shequ", "周阿婆", "13907910010", "兰宫路小区 2 栋 101",
         "独居老人希望每月上门打扫两次。",
         steps=_happy("fuwu", 28, "红管家志愿者上门打扫卫生、整理衣物。", unit=LANGONG, rating=5)),
    # --- recent weeks: open cases in every state ------------------------------------------------------
    Spec("上门家政服务", "svc-housekeeping", Channel.WEB, LANGONG, ("ago", 0, 3),
         "resident", "周小梅", "13907910011", "兰宫路 12 栋 3 单元 501",
         "下周六上午需要保洁阿姨上门打扫。"),
    Spec("楼道杂物堆放(兰宫路 3 栋)", "event-cityscape", Channel.PATROL, GRID1, ("ago", 1, 2),
         "wangge", "", "", "兰宫路 3 栋 1 单元", "一楼楼道堆放废旧自行车和纸箱,堵塞安全出口。"),
    Spec("物业服务纠纷:电梯频繁停运", "dispute-property", Channel.WEB, LANGONG, ("ago", 2, 5),
         "resident", "孙丽", "13907910012", "兰宫路小区 6 栋",
         "6 栋电梯一周停运三次,物业说要等维保公司,老人上下楼困难。",
         steps=[(1, "dispatch", "shequ", {"handler_unit": LANGONG}),
                (2, "accept", "shequ", {}),
                (4, "note", "shequ", {"note": "已约物业、维保公司周四到红管家议事会协商"})]),
    Spec("消防通道堵塞(十里江山 2 栋)", "safety-fire", Channel.INSPECTION, SHILI, ("ago", 0, 5),
         "lingdao", "", "", "十里江山小区 2 栋东侧", "东侧消防通道停放电动车 20 余辆。",
         steps=[(0.5, "dispatch", "lingdao", {"handler_unit": CHENGGUAN})]),
    Spec("井盖缺失(玉兰路与云海路路口)", "event-emergency", Channel.PATROL, GRID1, ("ago", 0, 1),
         "wangge", "", "", "玉兰路与云海路路口", "路口雨水井盖缺失,已临时放置锥桶。",
         priority=Priority.URGENT,
         steps=[(0.2, "dispatch", "shequ", {"handler_unit": CHENGGUAN})]),
    Spec("课后托管", "svc-after-school", Channel.WEB, LANGONG, ("ago", 6, 0),
         "resident", "刘婷", "13907910013", "兰宫路小区 9 栋",
         "孩子三年级,工作日下午 4 点到 6 点需要托管。",
         steps=[(1, "dispatch", "shequ", {"handler": "fuwu", "handler_unit": LANGONG}),
                (3, "accept", "fuwu", {}),
                (24 * 3, "resolve", "fuwu", _solved("已安排进入社区“四点半课堂”,志愿者辅导作业。"))]),
    Spec("微心愿:想要一台收音机", "svc-wish", Channel.VISIT, LANGONG, ("ago", 4, 0),
         "shequ", "蔡爷爷", "13907910014", "兰宫路小区 1 栋",
         "87 岁独居老人想要一台能听戏曲的收音机。",
         steps=[(24, "claim", "fuwu", {})]),
    Spec("小区路灯不亮", "demand-general", Channel.PHONE, LANGONG, ("ago", 9, 0),
         "shequ", "马先生", "13907910015", "兰宫路小区西门",
         "西门到 5 栋之间的路灯坏了 4 盏,晚上很黑。",
         steps=[(1, "dispatch", "shequ", {"handler_unit": CHENGGUAN}),
                (2, "accept", "keshi", {}),
                (24 * 2, "resolve", "keshi", _solved("已更换灯泡 2 盏。")),
                (24 * 3, "review", "shequ", {"satisfied": False, "solved": False, "rating": 2,
                                             "note": "回访:还有 2 盏不亮,居民不满意"})]),
    Spec("12345转办:小区垃圾清运不及时", "demand-12345", Channel.HOTLINE, TAIJIANG, ("ago", 20, 0),
         "lingdao", "匿名市民", "13907910016", "泰江来小区",
         "12345 热线转办:垃圾桶满溢两天无人清运,气味很大。",
         steps=[(1, "dispatch", "lingdao", {"handler_unit": CHENGGUAN}),
                (3, "accept", "keshi", {}),
                (24 * 12, "assign_owner", "lingdao", {"owner": "lingdao"}),
                (24 * 12 + 1, "supervise", "lingdao", {"note": "已超期,三日内办结并回复市民"})]),
    Spec("12345转办:泰江来小区垃圾满溢", "demand-12345", Channel.HOTLINE, TAIJIANG, ("ago", 19, 0),
         "lingdao", "匿名市民", "13907910017", "泰江来小区 4 栋",
         "12345 热线转办:4 栋旁垃圾桶满溢。",
         steps=[(2, "merge", "lingdao", {"primary": "12345转办:小区垃圾清运不及时"})]),
    Spec("老旧小区改造:楼道刮瓷进度滞后", "rectify-inspection", Channel.INSPECTION, LANGONG, ("ago", 18, 0),
         "shequ", "", "", "灌婴路小区 1–17 栋",
         "检查发现楼道刮瓷进度滞后于计划,部分单元未开工。",
         steps=[(1, "dispatch", "shequ", {"handler_unit": CHENGGUAN}),
                (2, "accept", "keshi", {}),
                (24 * 10, "extend_request", "keshi", {"days": 10, "reason": "雨季影响,刮瓷需晴天施工"}),
                (24 * 10 + 3, "extend_approve", "shequ", {})]),
    Spec("法律咨询:房屋租赁合同纠纷", "svc-legal-advice", Channel.WEB, SHILI, ("ago", 3, 0),
         "resident", "郑女士", "13907910018", "十里江山小区 7 栋",
         "房东不退押金,想咨询怎么维权。",
         steps=[(2, "dispatch", "lingdao", {"handler_unit": ZONGZHI}),
                (5, "return", "lingdao", {"reason": "综治中心无法律顾问坐班,请改派社区法律顾问"})]),
    Spec("心理疏导:中考前焦虑", "svc-counselling", Channel.WEB, LANGONG, ("due_soon", "svc-counselling"),
         "resident", "许妈妈", "13907910019", "兰宫路小区 10 栋",
         "孩子初三,最近失眠、焦虑,希望有老师聊一聊。",
         steps=[(1, "dispatch", "shequ", {"handler": "fuwu", "handler_unit": LANGONG}),
                (2, "accept", "fuwu", {})]),
]


def _created(spec: Spec, now: dt.datetime) -> dt.datetime:
    if isinstance(spec.created, dt.datetime):
        return spec.created
    local = timezone.localtime(now)
    if spec.created[0] == "ago":
        _tag, days, hours = spec.created
        if not days:
            return now - dt.timedelta(hours=hours)
        return local.replace(hour=9, minute=0, second=0, microsecond=0) - dt.timedelta(days=days, hours=hours)
    # ("due_soon", category): received on an earlier working day at such a time that the deadline
    # falls a few hours from now (on a weekend no such day exists: the nearest one is taken).
    category = Category.objects.get(code=spec.created[1])
    clock = (local + dt.timedelta(hours=3)).time().replace(second=0, microsecond=0)
    fallback = None
    for back in range(1, 20):
        start = timezone.make_aware(dt.datetime.combine(local.date() - dt.timedelta(days=back), clock))
        deadline = deadline_for(start, category.deadline_value, category.deadline_unit)
        if now < deadline <= now + dt.timedelta(hours=20):
            return start
        if fallback is None and deadline <= now + dt.timedelta(days=4):
            fallback = start
    return fallback or local - dt.timedelta(days=2)


def load(by, units) -> list[str]:
    """Create the demo cases that are missing; return lines for the command to print."""
    street = units[STREET]
    users = {u.username: u for u in User.objects.filter(username__in=PERSONAS)}
    missing = [p for p in PERSONAS if p not in users]
    if missing:
        return [f"工单演示数据:缺少演示账号 {', '.join(missing)},已跳过"]
    now = timezone.now()
    created = skipped = 0
    with messaging.muted():
        for spec in SPECS:
            if Case.objects.filter(street=street, title=spec.title, requester_name=spec.name).exists():
                skipped += 1
                continue
            _replay(spec, units, users, now)
            created += 1
    open_count = Case.objects.filter(street=street).open().count()
    overdue = Case.objects.filter(street=street).overdue(now).count()
    return [f"工单:新建 {created} 件,已存在 {skipped} 件(朝农街道在办 {open_count} 件,其中超期 {overdue} 件)"]


def _actor(key: str, users: dict[str, User]) -> Actor:
    if key == "resident":  # on the resident page (居民端): filing, or rating the result
        return Actor(label=PUBLIC_ACTOR_LABEL)
    return Actor(user=users[key], label=key)


def _replay(spec: Spec, units, users: dict[str, User], now: dt.datetime) -> Case:
    start = _created(spec, now)
    unit = units[spec.unit]
    place = {"org_unit": unit}
    case = services.case_create(
        _actor(spec.by, users), title=spec.title, channel=spec.channel,
        category=Category.objects.get(code=spec.category), **place, description=spec.description,
        address=spec.address, requester_name=spec.name, requester_phone=spec.phone, priority=spec.priority,
        at=start)
    for hours, action, who, kwargs in spec.steps:
        at = min(start + dt.timedelta(hours=hours), now - dt.timedelta(minutes=5))
        _step(case, action, _actor(who, users), users, units, dict(kwargs), at)
    return case


def _step(case: Case, action: str, by: Actor, users, units, kwargs: dict, at: dt.datetime) -> None:
    v = case.version
    match action:
        case "dispatch":
            services.dispatch(by, case, version=v, handler_unit=units.get(kwargs.get("handler_unit")),
                              handler=users.get(kwargs.get("handler")), at=at)
        case "accept":
            services.accept(by, case, version=v, at=at)
        case "claim":
            services.claim(by, case, version=v, at=at)
        case "claim_self":  # a grid worker handles what he found: dispatch to himself, accept
            services.dispatch(by, case, version=v, handler=by.user, handler_unit=case.org_unit, at=at,
                              note="网格员自行处置")
            services.accept(by, case, version=case.version, at=at)
        case "resolve":
            services.resolve(by, case, version=v, outcome=kwargs["outcome"], note=kwargs["note"], at=at)
        case "review":
            services.review(by, case, version=v, at=at, **kwargs)
        case "close":
            services.close(by, case, version=v, note=kwargs.get("note", ""), at=at)
        case "note":
            services.add_note(by, case, note=kwargs["note"], at=at)
        case "return":
            services.return_case(by, case, version=v, reason=kwargs["reason"], at=at)
        case "merge":
            primary = Case.objects.get(street=case.street, title=kwargs["primary"])
            services.merge(by, case, version=v, primary=primary, at=at, note="同一问题重复来电")
        case "assign_owner":
            services.assign_owner(by, case, version=v, owner=users[kwargs["owner"]], at=at)
        case "supervise":
            services.supervise(by, case, version=v, note=kwargs["note"], at=at)
        case "extend_request":
            services.request_extension(by, case, version=v, reason=kwargs["reason"], at=at,
                                       new_deadline=case.deadline_at + dt.timedelta(days=kwargs["days"]))
        case "extend_approve":
            services.decide_extension(by, case, version=v, approve=True, note="同意延期", at=at)
        case _:
            raise ValueError(action)

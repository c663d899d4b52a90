"""Demo ledgers of 朝农街道 for `jiedao demo` (deterministic, idempotent).

Everything is fictitious. Demo ID numbers are valid GB 11643 numbers whose sequence code
(digits 15–17) is 990–999 and whose names begin with "演示": clearly fake. Credit codes are
valid GB 32100 codes (check characters computed with python-stdnum; the embedded organisation
code carries its own GB 11714 check) with the region 360103. Buildings and projects are the
seed's own (国金滨江 … 大悦城综合体写字楼; 玖悦府, 大名城, 西江悦, 中粮大悦城, 灌婴路南区改造).
The 30 联网直报 units are split by sector exactly as the seed states (10 + 5 + 8 + 7 + 1 — which
adds up to 31: a discrepancy the report checker should point out).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from stdnum.cn import ric, uscc

from jiedao.accounts.models import User

from . import services
from .models import (
    Building,
    Enterprise,
    HealthArchive,
    IntegrityArchive,
    Project,
    ProjectInvestment,
    RelocationHousehold,
    RelocationPlot,
    Resident,
)

STREET = "360103012"
COMMUNITIES = ["360103012001", "360103012002", "360103012003"]
GRIDS = ["360103012001001", "360103012001002", "360103012002001", "360103012003001"]

BUILDINGS = [
    ("国金滨江", "formed", "赣江中大道 1号", "68000"),
    ("博富大厦", "formed", "朝农路 88号", "42000"),
    ("喜盈门设计师楼", "formed", "灌婴路 16号", "23500"),
    ("天虹塔楼", "formed", "中山西路 9号", "51000"),
    ("朝阳时代广场", "formed", "朝阳中路 128号", "76000"),
    ("富润大厦", "forming", "桃花路 2号", "31000"),
    ("盈家大厦", "forming", "船山路 301号", "27500"),
    ("大悦城综合体写字楼", "under_construction", "朝农路 1号", None),
]

SECTOR_COUNTS = [("construction", 10), ("services", 5), ("real_estate", 8), ("trade", 7), ("industry", 1)]
SECTOR_WORDS = {
    "construction": "建筑工程",
    "services": "商务服务",
    "real_estate": "房地产开发",
    "trade": "商贸",
    "industry": "机械制造",
}

SURNAMES = "张王李赵刘陈杨黄周吴徐孙胡朱高林何郭马罗"
GIVEN = ["一", "二", "三", "四", "五", "六", "七", "八", "九", "十"]


def org_code(body: str) -> str:
    """A GB 11714 organisation code: 8 characters and their check character."""
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    total = sum(alphabet.index(c) * w for c, w in zip(body, (3, 7, 9, 10, 5, 8, 4, 2), strict=True))
    check = 11 - total % 11
    return body + ("X" if check == 10 else "0" if check == 11 else str(check))


def demo_credit_code(n: int, prefix: str = "91") -> str:
    """91 = enterprise, 92 = 个体工商户 (GB 32100's registration authority + kind)."""
    base = prefix + "360103" + org_code(f"MA{n:06d}")
    return base + uscc.calc_check_digit(base + "0")


def demo_id(birth: dt.date, n: int, female: bool) -> str:
    seq = 990 + (n % 5) * 2 + (0 if female else 1)  # 990–999, odd = male
    base = f"360103{birth:%Y%m%d}{seq:03d}"
    return base + ric.calc_check_digit(base + "0")


def load(by, units) -> list[str]:
    lines: list[str] = []
    street = units[STREET]
    lines.append(_buildings(by, street))
    lines.append(_enterprises(by, street))
    lines.append(_residents(by, units))
    lines.append(_projects(by, street))
    lines.append(_relocation(by, units))
    lines.append(_integrity(by, units))
    return [line for line in lines if line]


def _buildings(by, street) -> str:
    made = 0
    for name, status, address, area in BUILDINGS:
        if not Building.objects.filter(name=name, archived_at__isnull=True).exists():
            services.building_create(
                by=by,
                org_unit=street,
                name=name,
                status=status,
                address=f"朝农街道{address}",
                floor_area=Decimal(area) if area else None,
            )
            made += 1
    return f"台账·楼宇:新建 {made} 栋(共 {Building.objects.filter(archived_at__isnull=True).count()} 栋)"


def _enterprises(by, street) -> str:
    buildings = list(Building.objects.filter(status="formed", archived_at__isnull=True).order_by("name"))
    made, n = 0, 0
    for sector, count in SECTOR_COUNTS:
        for _i in range(count):
            n += 1
            code = demo_credit_code(n)
            if Enterprise.objects.filter(credit_code=code, archived_at__isnull=True).exists():
                continue
            services.enterprise_create(
                by=by,
                org_unit=street,
                name=f"南昌演示{SECTOR_WORDS[sector]}有限公司{n:02d}",
                credit_code=code,
                kind="registered",
                sector=sector,
                online_direct_report=True,
                above_scale=sector != "trade",
                above_quota=sector == "trade",
                building=buildings[n % len(buildings)] if buildings else None,
                address=f"朝农街道朝农路 {100 + n}号",
                contact_name=f"演示{SURNAMES[n % 20]}经理",
                contact_phone=f"139{n:08d}",
            )
            made += 1
    for i in range(1, 7):
        n = 100 + i
        code = demo_credit_code(n, prefix="92")
        if Enterprise.objects.filter(credit_code=code, archived_at__isnull=True).exists():
            continue
        services.enterprise_create(
            by=by,
            org_unit=street,
            name=f"朝农演示便利店{i:02d}",
            credit_code=code,
            kind="individual",
            sector="trade",
            address=f"灌婴路 {i}号门面",
            contact_name=f"演示{SURNAMES[i]}{GIVEN[i]}",
            contact_phone=f"138{n:08d}",
        )
        made += 1
    return f"台账·企业:新建 {made} 家"


def _residents(by, units) -> str:
    made = 0
    groups_cycle = [
        ["employed"],
        ["youth"],
        ["needy"],
        ["elderly_80"],
        ["needy", "disabled"],
        ["elderly_80", "empty_nester"],
        ["employed", "party_member"],
        ["veteran"],
    ]
    births = [
        dt.date(1985, 3, 12),
        dt.date(2008, 6, 1),
        dt.date(1962, 11, 23),
        dt.date(1936, 2, 8),
        dt.date(1958, 9, 30),
        dt.date(1939, 12, 25),
        dt.date(1979, 7, 7),
        dt.date(1951, 4, 4),
    ]
    created: list[Resident] = []
    for n in range(30):
        female = n % 2 == 0
        birth = births[n % len(births)].replace(day=min(births[n % len(births)].day + n // 8, 28))
        id_number = demo_id(birth, n, female)
        if Resident.objects.filter(id_number=id_number, archived_at__isnull=True).exists():
            continue
        unit = units[GRIDS[n % len(GRIDS)]] if n % 3 else units[COMMUNITIES[n % len(COMMUNITIES)]]
        resident = services.resident_create(
            by=by,
            org_unit=unit,
            name=f"演示{SURNAMES[n % 20]}{GIVEN[n % 10]}",
            id_number=id_number,
            phone=f"1370{n:07d}",
            address=f"朝农街道灌婴路南区 {n // 4 + 1}栋 {n % 4 + 1}0{n % 3 + 1}室",
            groups=groups_cycle[n % len(groups_cycle)],
        )
        created.append(resident)
        made += 1
    for resident in created:
        groups = resident.group_codes
        if ("elderly_80" in groups or "needy" in groups) and not HealthArchive.objects.filter(
            resident=resident
        ).exists():
            services.health_archive_save(
                by=by,
                resident=resident,
                blood_type="A",
                chronic_conditions="高血压",
                family_doctor="朝农社区卫生服务中心",
                last_checkup=dt.date(2021, 5, 20),
            )
            services.agreement_create(
                by=by,
                resident=resident,
                provider="红管家志愿服务队",
                services="助餐、助洁、健康监测(每周上门一次)",
                signed_on=dt.date(2021, 3, 1),
                start_date=dt.date(2021, 3, 1),
                end_date=dt.date(2022, 2, 28),
            )
    return f"台账·服务对象:新建 {made} 人"


PROJECTS = [
    (
        "玖悦府",
        "major",
        Decimal("9800"),
        "南昌玖悦置业有限公司",
        {
            "started": dt.date(2019, 4, 8),
            "topped_out": dt.date(2020, 6, 18),
            "accepted": dt.date(2021, 6, 30),
            "delivered": dt.date(2021, 9, 28),
        },
    ),
    (
        "大名城",
        "major",
        Decimal("8600"),
        "南昌大名城置业有限公司",
        {
            "started": dt.date(2019, 3, 1),
            "topped_out": dt.date(2020, 8, 10),
            "accepted": dt.date(2021, 7, 15),
            "delivered": dt.date(2021, 10, 20),
        },
    ),
    (
        "西江悦",
        "major",
        Decimal("7530"),
        "南昌西江悦房地产开发有限公司",
        {"started": dt.date(2020, 2, 20), "topped_out": dt.date(2021, 5, 30)},
    ),
    (
        "中粮大悦城",
        "major",
        Decimal("9000"),
        "中粮大悦城(南昌)置业有限公司",
        {"started": dt.date(2021, 3, 18)},
    ),
]
# 1–10月 completed investment (万元) per project; the four add up to the seed's 3.001 亿元.
MONTHLY = {
    "玖悦府": [800, 820, 900, 880, 860, 840, 800, 780, 760, 760],
    "大名城": [700, 720, 760, 740, 730, 720, 700, 690, 680, 660],
    "西江悦": [600, 640, 660, 650, 640, 630, 620, 610, 600, 590],
    "中粮大悦城": [0, 0, 800, 900, 1000, 1050, 1100, 1150, 1200, 1270],
}


def _projects(by, street) -> str:
    made = 0
    for name, kind, planned, owner, milestones in PROJECTS:
        if Project.objects.filter(name=name, year=2021, archived_at__isnull=True).exists():
            continue
        project = services.project_create(
            by=by, org_unit=street, name=name, kind=kind, year=2021, planned_investment=planned, owner=owner
        )
        for kind_, day in milestones.items():
            services.milestone_set(by=by, project=project, kind=kind_, planned_date=day, actual_date=day)
        if name == "西江悦":
            services.milestone_set(
                by=by, project=project, kind="accepted", planned_date=dt.date(2021, 12, 31)
            )
        if name == "中粮大悦城":
            services.milestone_set(
                by=by, project=project, kind="topped_out", planned_date=dt.date(2021, 12, 31)
            )
        for month, amount in enumerate(MONTHLY[name], start=1):
            if amount:
                services.investment_set(
                    by=by, project=project, month=dt.date(2021, month, 1), amount=Decimal(amount)
                )
        made += 1
    if not Project.objects.filter(
        name="灌婴路南区老旧小区改造", year=2021, archived_at__isnull=True
    ).exists():
        project = services.project_create(
            by=by,
            org_unit=street,
            name="灌婴路南区老旧小区改造",
            kind="renovation",
            year=2021,
            planned_investment=Decimal("1450"),
            owner="西湖区住建局",
            notes="17栋房屋 5.8万平方米:雨污分流、立面整治、加装电梯、停车位",
        )
        services.milestone_set(
            by=by,
            project=project,
            kind="started",
            planned_date=dt.date(2021, 7, 16),
            actual_date=dt.date(2021, 7, 16),
        )
        for month, amount in ((7, 200), (8, 260), (9, 310), (10, 280)):
            services.investment_set(
                by=by, project=project, month=dt.date(2021, month, 1), amount=Decimal(amount)
            )
        made += 1
    total = sum(
        (i.amount for i in ProjectInvestment.objects.filter(project__kind="major", project__year=2021)),
        Decimal(0),
    )
    return f"台账·项目:新建 {made} 个(重大项目 1-10月累计 {total} 万元)"


HOUSEHOLDS = [
    ("001", "city", "86.40", "market", "returned", ""),
    ("002", "city", "72.15", "in_kind", "settled", ""),
    ("003", "farm", "65.00", "replacement", "signed", ""),
    ("004", "public_purchase", "54.30", "in_kind", "signed", ""),
    ("005", "erected", "23.80", "replacement", "choosing", "搭建部分面积认定有争议"),
    ("006", "uncertain", "41.20", "", "assessed", "产权人已故,继承人未确定"),
    ("007", "city", "98.60", "market", "choosing", ""),
    ("008", "farm", "60.00", "replacement", "assessed", "对评估价格有异议,申请复核"),
    ("009", "public_purchase", "48.75", "in_kind", "settled", ""),
    ("010", "uncertain", "35.50", "", "assessed", "户籍与实际居住人不一致"),
    ("011", "city", "77.00", "market", "signed", ""),
    ("012", "erected", "18.90", "replacement", "choosing", ""),
]


def _relocation(by, units) -> str:
    street = units[STREET]
    plot = RelocationPlot.objects.filter(code="CY203-B07", archived_at__isnull=True).first()
    if plot is None:
        plot = services.plot_create(
            by=by, org_unit=street, code="CY203-B07", name="水厂路地块", notes="演示数据:征收拆迁地块"
        )
    made = 0
    for i, (number, cert, area, method, stage, blockers) in enumerate(HOUSEHOLDS):
        if RelocationHousehold.objects.filter(
            plot=plot, household_no=number, archived_at__isnull=True
        ).exists():
            continue
        services.household_create(
            by=by,
            org_unit=units[COMMUNITIES[i % 3]],
            plot=plot,
            household_no=number,
            head_name=f"演示{SURNAMES[i + 5]}{GIVEN[i % 10]}",
            id_number=demo_id(dt.date(1950 + i * 3, 1 + i % 12, 10 + i), 100 + i, i % 2 == 0),
            phone=f"1360{i:07d}",
            address=f"水厂路 {20 + i}号",
            certificate_type=cert,
            area=Decimal(area),
            compensation_method=method,
            stage=stage,
            blockers=blockers,
        )
        made += 1
    return f"台账·征收:地块 CY203-B07 新登记 {made} 户"


def _integrity(by, units) -> str:
    made = 0
    for username, position in (("lingdao", "街道党工委副书记、办事处主任"), ("keshi", "城管办主任")):
        cadre = User.objects.filter(username=username).first()
        if cadre is None or IntegrityArchive.objects.filter(cadre=cadre).exists():
            continue
        archive = services.integrity_archive_create(
            by=by, cadre=cadre, org_unit=cadre.home_unit or units[STREET], position=position
        )
        services.integrity_entry_create(
            by=by,
            archive=archive,
            kind="study",
            date=dt.date(2021, 4, 12),
            title="党史学习教育廉政专题学习",
            content="参加街道党工委中心组学习",
        )
        services.integrity_entry_create(
            by=by,
            archive=archive,
            kind="declaration",
            date=dt.date(2021, 1, 20),
            title="领导干部个人有关事项报告",
        )
        if username == "keshi":
            services.integrity_entry_create(
                by=by,
                archive=archive,
                kind="talk_reminder",
                date=dt.date(2021, 9, 3),
                title="节前廉政提醒谈话",
            )
        made += 1
    return f"廉政档案:新建 {made} 份" if made else ""

"""The demo organisation: 南昌市西湖区 with 朝农街道 (the seed's street) and its neighbours,
and one persona per role. Deterministic and idempotent: a second run changes nothing.

Region codes have the GB/T 2260 shape but are fictitious below the district level.
"""

from django.db import transaction

from jiedao.accounts.models import Membership, User
from jiedao.accounts.roles import Role
from jiedao.accounts.services import membership_grant, user_create
from jiedao.audit.trail import Actor
from jiedao.core.models import OrgUnit, OrgUnitKind
from jiedao.core.services import org_unit_create

DEMO_PASSWORD = "Jiedao@2021"

DISTRICT = ("360103", "西湖区")
STREETS = [
    ("360103012", "朝农街道"),
    ("360103001", "南浦街道"),
    ("360103002", "朝阳洲街道"),
    ("360103006", "桃源街道"),
    ("360103008", "十字街街道"),
]
# Communities and grids of 朝农街道 (兰宫路社区 is where the seed's 红管家 began).
COMMUNITIES = {
    "360103012": [
        ("360103012001", "兰宫路社区", ["第一网格", "第二网格", "第三网格"]),
        ("360103012002", "十里江山社区", ["第一网格", "第二网格"]),
        ("360103012003", "泰江来社区", ["第一网格", "第二网格"]),
    ],
    "360103001": [("360103001001", "南浦社区", ["第一网格"])],
}
DEPARTMENTS = ["党建办", "纪工委", "经济发展办", "城管办", "综治中心", "社会事务办", "党群服务中心"]

# username, full name, role, unit (by code, or "street/department name")
PERSONAS = [
    ("lingdao", "王建国", Role.LEADER, "360103012"),
    ("keshi", "李敏", Role.STAFF, "360103012/城管办"),
    ("shequ", "陈芳", Role.COMMUNITY_WORKER, "360103012001"),
    ("wangge", "刘洋", Role.GRID_WORKER, "360103012001001"),
    ("fuwu", "红管家志愿服务队", Role.PROVIDER, "360103012001"),
    ("jiwei", "赵清", Role.DISCIPLINE, "360103012/纪工委"),
    ("jumin", "周小梅", Role.RESIDENT, "360103012001"),
    ("quji", "孙立", Role.DISTRICT_VIEWER, "360103"),
    ("tongji", "黄统计", Role.DISTRICT_STATISTICIAN, "360103"),
    ("xitong", "吴系统", Role.SYSADMIN, "360103012"),
    ("anquan", "郑安全", Role.SECADMIN, "360103012"),
    ("shenji", "钱审计", Role.AUDITOR, "360103012"),
]


def _unit(by: Actor, kind: str, name: str, code: str, parent: OrgUnit | None) -> OrgUnit:
    existing = OrgUnit.objects.filter(parent=parent, name=name).first()
    if existing:
        return existing
    return org_unit_create(by=by, kind=kind, name=name, code=code, parent=parent)


def load_organisation(by: Actor) -> dict[str, OrgUnit]:
    """Create the district, streets, communities, grids and departments; return them by key."""
    units: dict[str, OrgUnit] = {}
    with transaction.atomic():
        district = _unit(by, OrgUnitKind.DISTRICT, DISTRICT[1], DISTRICT[0], None)
        units[district.code] = district
        for code, name in STREETS:
            street = _unit(by, OrgUnitKind.STREET, name, code, district)
            units[code] = street
            for dept in DEPARTMENTS if code == "360103012" else []:
                units[f"{code}/{dept}"] = _unit(by, OrgUnitKind.DEPARTMENT, dept, "", street)
            for ccode, cname, grids in COMMUNITIES.get(code, []):
                community = _unit(by, OrgUnitKind.COMMUNITY, cname, ccode, street)
                units[ccode] = community
                for i, gname in enumerate(grids, start=1):
                    gcode = f"{ccode}{i:03d}"
                    units[gcode] = _unit(by, OrgUnitKind.GRID, f"{cname}{gname}", gcode, community)
    return units


def load_personas(by: Actor, units: dict[str, OrgUnit]) -> list[tuple[str, str, str]]:
    """One account per role; returns (username, role label, unit name) for the login list."""
    rows = []
    with transaction.atomic():
        for username, full_name, role, unit_key in PERSONAS:
            unit = units[unit_key]
            user = User.objects.filter(username=username).first()
            if user is None:
                user = user_create(by=by, username=username, password=DEMO_PASSWORD,
                                   home_unit=unit, full_name=full_name)
            if not Membership.objects.filter(user=user, unit=unit, role=role).exists():
                membership_grant(by=by, user=user, unit=unit, role=role)
            rows.append((username, str(Role(role).label), unit.name))
    return rows

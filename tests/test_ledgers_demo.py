"""The demo ledgers: valid identifiers, the seed's figures, and a second run creates nothing."""

from decimal import Decimal

from stdnum.cn import ric, uscc

from jiedao.audit.models import AuditEvent
from jiedao.audit.trail import Actor
from jiedao.ledgers import demo, fields
from jiedao.ledgers.models import (
    Building,
    Enterprise,
    IntegrityArchive,
    Project,
    ProjectInvestment,
    RelocationHousehold,
    Resident,
)

MODELS = (Building, Enterprise, IntegrityArchive, Project, ProjectInvestment, RelocationHousehold, Resident)


def test_demo_is_valid_and_idempotent(world):
    by = Actor.system("demo")
    lines = demo.load(by, world.units)
    assert any("CY203-B07" in line for line in lines)
    counts = {m: m.objects.count() for m in MODELS}
    assert all(counts.values()), counts
    for resident in Resident.objects.all():
        assert fields.parse_id_number(resident.id_number) == resident.id_number
        assert 990 <= int(resident.id_number[14:17]) <= 999 and resident.name.startswith("演示")
    for enterprise in Enterprise.objects.all():
        uscc.validate(enterprise.credit_code)
        assert not enterprise.credit_code_override
    assert ric.is_valid(Resident.objects.first().id_number) in (True, False)  # stdnum's stricter county rule
    # the seed: 4 major projects, planned 3.493 亿元, 1-10月 3.001 亿元 (85.91%)
    majors = Project.objects.filter(kind="major", year=2021)
    assert sorted(majors.values_list("name", flat=True)) == ["中粮大悦城", "大名城", "玖悦府", "西江悦"]
    assert sum(p.planned_investment for p in majors) == Decimal("34930")
    assert sum(p.completed_investment for p in majors) == Decimal("30010")
    assert Building.objects.filter(status="formed").count() == 5
    assert Enterprise.objects.filter(online_direct_report=True, sector="construction").count() == 10
    events = AuditEvent.objects.count()
    assert demo.load(by, world.units) == [line for line in demo.load(by, world.units)]
    assert {m: m.objects.count() for m in MODELS} == counts
    assert AuditEvent.objects.count() == events  # nothing written the second time

"""The demo's work records: every type present for 朝农街道, the seed's ranks computed from
the invented district figures, and a second run writes nothing."""

import pytest

from jiedao.audit.models import AuditEvent
from jiedao.audit.trail import Actor
from jiedao.records import demo
from jiedao.records import indicators as ind
from jiedao.records.models import (
    EnterpriseVisit,
    Indicator,
    Inspection,
    InsuranceEnrolment,
    JobFair,
    Meeting,
    PlanItem,
    ReliefVisit,
    Tally,
)
from jiedao.records.selectors import with_hazard_counts, with_suggestion_counts

SYSTEM = Actor.system("demo")


@pytest.mark.django_db
def test_demo_loads_every_record_type_once(world):
    demo.load(SYSTEM, world.units)
    street = world.street
    for model in (Tally, Meeting, EnterpriseVisit, ReliefVisit, JobFair, InsuranceEnrolment,
                  Inspection, PlanItem):
        assert model.objects.filter(org_unit__path__startswith=street.path).exists(), model
    meetings = with_suggestion_counts(Meeting.objects.all())
    assert sum(m.suggestions_solved for m in meetings) == 5
    assert sum(m.suggestions_total for m in meetings) == 8
    inspections = with_hazard_counts(Inspection.objects.all())
    assert (sum(i.hazards_found for i in inspections),
            sum(i.hazards_rectified for i in inspections)) == (5, 4)

    # The cases the records raised were registered on the record's day (a 2021 history), not on
    # the day the demo ran: each comes before its first dispatch.
    from jiedao.cases.models import Case

    raised = Case.objects.filter(channel__in=("inspection", "visit", "roundtable", "joint_meeting"))
    assert raised.exists()
    for case in raised:
        assert case.created_at.year == 2021, (case.title, case.created_at)
        assert case.dispatched_at is None or case.created_at < case.dispatched_at, case.title

    # the seed's "位列全区第三/第二/第四" for 1-9月 come out of the computation
    district = world.units["360103"]
    ranks = {(r.indicator.code, r.street.code): r for r in ind.bulletin(district, 2021, 9)}
    assert ranks[("foreign-capital", "360103012")].rank == 3
    assert str(ranks[("foreign-capital", "360103012")].progress) == "75.42"
    assert ranks[("domestic-capital", "360103012")].rank == 2
    assert ranks[("out-of-province-capital", "360103012")].rank == 4
    october = {(r.indicator.code, r.street.code): r for r in ind.bulletin(district, 2021, 10)}
    fai = october[("fixed-asset-investment", "360103012")]
    assert (str(fai.actual), str(fai.yoy)) == ("24.4600", "38.82")
    assert october[("fixed-asset-investment", "360103008")].rank is None  # 十字街: no October

    before = AuditEvent.objects.count()
    counts = [m.objects.count() for m in (Tally, Meeting, Indicator)]
    demo.load(SYSTEM, world.units)
    assert AuditEvent.objects.count() == before
    assert [m.objects.count() for m in (Tally, Meeting, Indicator)] == counts

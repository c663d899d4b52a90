"""Every ledger page renders for a leader with real records, and shows what it should."""

import datetime as dt
from decimal import Decimal

from django.urls import reverse

from jiedao.accounts.roles import Role
from jiedao.audit.trail import Actor
from jiedao.ledgers import services

from .test_ledgers_import import fake_code, fake_id

LEDGERS = ["residents", "enterprises", "buildings", "projects", "households"]


def test_every_page_renders(world, client):
    by = Actor.system("t")
    unit = world.units["360103012001"]
    resident = services.resident_create(
        by=by, org_unit=unit, name="测试甲", id_number=fake_id(seq=5), phone="13900001111", groups=["youth"]
    )
    building = services.building_create(by=by, org_unit=world.street, name="玖悦府", status="formed")
    enterprise = services.enterprise_create(
        by=by,
        org_unit=world.street,
        name="某公司",
        credit_code=fake_code(1),
        kind="registered",
        sector="services",
        building=building,
    )
    project = services.project_create(
        by=by,
        org_unit=world.street,
        name="项目A",
        kind="major",
        year=2021,
        planned_investment=Decimal("10000"),
    )
    services.investment_set(by=by, project=project, month=dt.date(2021, 3, 1), amount=Decimal("123.45"))
    services.milestone_set(by=by, project=project, kind="started", actual_date=dt.date(2021, 3, 18))
    plot = services.plot_create(by=by, org_unit=world.street, code="CY203-B07")
    household = services.household_create(
        by=by,
        org_unit=world.street,
        plot=plot,
        household_no="001",
        head_name="王五",
        certificate_type="city",
        area=Decimal("50.5"),
        stage="signed",
    )
    objects = dict(zip(LEDGERS, [resident, enterprise, building, project, household], strict=True))
    client.force_login(world.users[Role.LEADER])
    index = client.get(reverse("ledgers:index")).content.decode()
    for ledger in LEDGERS:
        assert f'data-ledger="{ledger}"' in index
    for ledger, obj in objects.items():
        for name, args in (
            ("list", [ledger]),
            ("create", [ledger]),
            ("import", [ledger]),
            ("detail", [ledger, obj.pk]),
            ("edit", [ledger, obj.pk]),
        ):
            assert client.get(reverse(f"ledgers:{name}", args=args)).status_code == 200, (ledger, name)
        for name in ("template", "export"):
            response = client.get(reverse(f"ledgers:{name}", args=[ledger]))
            assert response.status_code == 200 and response.content[:2] == b"PK", (ledger, name)
    detail = client.get(reverse("ledgers:detail", args=["projects", project.pk])).content.decode()
    assert "123.45" in detail and "2021-03-18" in detail and "1.2%" in detail  # 123.45 of 10000 万元
    assert "项目名称</b>:项目A" in detail and "节点</b>:新开工" in detail  # history: not personal, not masked
    detail = client.get(reverse("ledgers:detail", args=["buildings", building.pk])).content.decode()
    assert "某公司" in detail  # tenants
    detail = client.get(reverse("ledgers:detail", args=["households", household.pk])).content.decode()
    assert (
        'class="stage-current" data-stage="signed"' in detail
        and 'class="stage-done" data-stage="assessed"' in detail
    )
    detail = client.get(reverse("ledgers:detail", args=["residents", resident.pk])).content.decode()
    assert "登记服务对象" in detail  # the change history from the audit trail
    assert "姓名</b>:测**" in detail and "测试甲" not in detail  # a resident's name stays masked there
    # filters
    page = client.get(reverse("ledgers:list", args=["residents"]), {"group": "needy"}).content.decode()
    assert f'data-pk="{resident.pk}"' not in page
    page = client.get(reverse("ledgers:list", args=["residents"]), {"group": "youth"}).content.decode()
    assert f'data-pk="{resident.pk}"' in page
    page = client.get(
        reverse("ledgers:list", args=["enterprises"]), {"q": fake_code(1)[:10]}
    ).content.decode()
    assert f'data-pk="{enterprise.pk}"' in page
    response = client.post(reverse("ledgers:archive", args=["buildings", building.pk]))
    assert response.status_code == 302
    building.refresh_from_db()
    assert building.archived_at is not None
    page = client.get(reverse("ledgers:list", args=["buildings"])).content.decode()
    assert f'data-pk="{building.pk}"' not in page


def test_resident_page_lists_the_cases_the_viewer_may_see(world, client):
    from jiedao.cases import services as cases

    by = Actor.system("t")
    resident = services.resident_create(by=by, org_unit=world.units["360103012001001"], name="测试乙",
                                        id_number=fake_id(seq=8))
    mine = cases.case_create(by, title="上门助餐", channel="phone", kind="service_order",
                             org_unit=world.units["360103012001001"], resident=resident)
    theirs = cases.case_create(by, title="另一社区的诉求", channel="phone", kind="demand",
                               org_unit=world.units["360103012002"], resident=resident)
    client.force_login(world.users[Role.GRID_WORKER])
    html = client.get(reverse("ledgers:detail", args=["residents", resident.pk])).content.decode()
    assert mine.tracking_code in html and reverse("cases:case_detail", args=[mine.pk]) in html
    assert theirs.tracking_code not in html

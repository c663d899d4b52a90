"""Who sees which ledger rows: scopes for every ledger, masking by default, audited reveal,
the health archive, and the integrity archives that only the discipline role may open."""

import io
from decimal import Decimal

import openpyxl
import pytest
from django.urls import reverse

from jiedao.accounts.roles import Role
from jiedao.audit.models import AuditEvent
from jiedao.audit.trail import Actor
from jiedao.core.masking import mask_name
from jiedao.ledgers import services
from jiedao.ledgers.models import IntegrityArchive, Resident

BY = Actor.system("test")
LEDGERS = ["residents", "enterprises", "buildings", "projects", "households"]
NO_BUSINESS = [Role.PROVIDER, Role.DISCIPLINE, Role.RESIDENT, Role.SYSADMIN, Role.SECADMIN, Role.AUDITOR]


def fake_id(seq: int) -> str:
    from stdnum.cn import ric

    base = f"36010319800101{seq:03d}"
    return base + ric.calc_check_digit(base + "0")


def fake_code(n: int) -> str:
    from stdnum.cn import uscc

    base = f"9136010{n:010d}"[:17]
    return base + uscc.calc_check_digit(base + "0")


def make(ledger: str, unit, n: int):
    """One record of ``ledger`` in ``unit``; ``n`` keeps natural keys apart."""
    if ledger == "residents":
        return services.resident_create(
            by=BY, org_unit=unit, name=f"演示甲{n}", id_number=fake_id(n), phone=f"1390000{n:04d}"
        )
    if ledger == "enterprises":
        return services.enterprise_create(
            by=BY,
            org_unit=unit,
            name=f"演示企业{n}",
            credit_code=fake_code(n),
            kind="registered",
            sector="services",
            contact_name=f"演示联系人{n}",
        )
    if ledger == "buildings":
        return services.building_create(by=BY, org_unit=unit, name=f"演示楼宇{n}", status="formed")
    if ledger == "projects":
        return services.project_create(
            by=BY,
            org_unit=unit,
            name=f"演示项目{n}",
            kind="major",
            year=2021,
            planned_investment=Decimal("100"),
        )
    from jiedao.ledgers.models import RelocationPlot

    plot = RelocationPlot.objects.filter(code="CY203-B07").first() or services.plot_create(
        by=BY, org_unit=unit, code="CY203-B07"
    )
    return services.household_create(
        by=BY,
        org_unit=unit,
        plot=plot,
        household_no=f"{n:03d}",
        head_name=f"演示户主{n}",
        certificate_type="city",
        area=Decimal("50"),
        stage="assessed",
    )


@pytest.fixture
def records(world):
    """Per ledger: a row in 兰宫路社区第一网格, one in 十里江山社区, one in 南浦街道."""
    out = {}
    for i, ledger in enumerate(LEDGERS):
        out[ledger] = {
            "grid": make(ledger, world.units["360103012001001"], 100 + i),
            "other_community": make(ledger, world.units["360103012002"], 200 + i),
            "other_street": make(ledger, world.other_street, 300 + i),
        }
    return out


def visible(client, ledger, records) -> set[str]:
    html = client.get(reverse("ledgers:list", args=[ledger])).content.decode()
    return {where for where, obj in records[ledger].items() if f'data-pk="{obj.pk}"' in html}


def exported_count(client, ledger) -> int:
    response = client.get(reverse("ledgers:export", args=[ledger]))
    assert response.status_code == 200
    return openpyxl.load_workbook(io.BytesIO(response.content)).worksheets[0].max_row - 1


EXPECTED = {
    Role.LEADER: {"grid", "other_community"},
    Role.STAFF: set(),  # held on 城管办: the department's own records only
    Role.COMMUNITY_WORKER: {"grid"},
    Role.GRID_WORKER: {"grid"},
    Role.DISTRICT_VIEWER: {"grid", "other_community", "other_street"},
}


@pytest.mark.parametrize("ledger", LEDGERS)
def test_each_role_sees_its_scope_in_list_detail_and_export(world, client, records, ledger):
    for role, expected in EXPECTED.items():
        client.force_login(world.users[role])
        assert visible(client, ledger, records) == expected, role
        assert exported_count(client, ledger) == len(expected), role
        for where, obj in records[ledger].items():
            status = client.get(reverse("ledgers:detail", args=[ledger, obj.pk])).status_code
            assert status == (200 if where in expected else 404), (role, where)
    for role in NO_BUSINESS:
        client.force_login(world.users[role])
        for name in ("list", "export", "template", "create", "import"):
            assert client.get(reverse(f"ledgers:{name}", args=[ledger])).status_code == 404, (role, name)
        obj = records[ledger]["grid"]
        assert client.get(reverse("ledgers:detail", args=[ledger, obj.pk])).status_code == 404
    assert client.get(reverse("ledgers:detail", args=[ledger, 999999])).status_code == 404


def test_writes_need_business_write_in_the_records_unit(world, client, records):
    client.force_login(world.users[Role.GRID_WORKER])
    mine, theirs = records["buildings"]["grid"], records["buildings"]["other_community"]
    assert client.get(reverse("ledgers:edit", args=["buildings", mine.pk])).status_code == 200
    assert client.get(reverse("ledgers:edit", args=["buildings", theirs.pk])).status_code == 404
    assert client.post(reverse("ledgers:archive", args=["buildings", theirs.pk])).status_code == 404
    theirs.refresh_from_db()
    assert theirs.archived_at is None
    client.force_login(world.users[Role.DISTRICT_VIEWER])  # reads the district, writes nothing
    assert client.get(reverse("ledgers:edit", args=["buildings", mine.pk])).status_code == 404
    assert client.get(reverse("ledgers:create", args=["buildings"])).status_code == 404


def test_personal_values_are_masked_on_pages_and_exports(world, client, records):
    resident = records["residents"]["grid"]
    client.force_login(world.users[Role.LEADER])
    for url in (
        reverse("ledgers:list", args=["residents"]),
        reverse("ledgers:detail", args=["residents", resident.pk]),
    ):
        html = client.get(url).content.decode()
        assert resident.id_number not in html and resident.phone not in html and resident.name not in html
        assert resident.id_number[:6] + "********" + resident.id_number[-4:] in html
        # The birth date is what the ID number's mask hides: only its year is shown.
        assert resident.birth_date.isoformat() not in html
        assert f"{resident.birth_date:%Y年%-m月%-d日}" not in html
    book = openpyxl.load_workbook(
        io.BytesIO(client.get(reverse("ledgers:export", args=["residents"])).content)
    )
    values = {str(c) for row in book.worksheets[0].iter_rows(values_only=True) for c in row}
    assert resident.id_number not in values and resident.name not in values and resident.phone not in values
    assert f"{resident.birth_date:%Y}-**-**" in values
    assert not any(resident.birth_date.isoformat() in v for v in values)
    household = records["households"]["grid"]
    html = client.get(reverse("ledgers:detail", args=["households", household.pk])).content.decode()
    assert household.head_name not in html


def test_reveal_needs_the_permission_and_is_audited(world, client, records):
    resident = records["residents"]["grid"]
    url = reverse("ledgers:reveal", args=["residents", resident.pk, "id_number"])
    client.force_login(world.users[Role.GRID_WORKER])  # reads the grid, but may not reveal
    html = client.get(reverse("ledgers:detail", args=["residents", resident.pk])).content.decode()
    assert 'data-reveal="id_number"' not in html
    assert client.post(url).status_code == 404
    assert not AuditEvent.objects.filter(event_type="ledgers.reveal").exists()
    client.force_login(world.users[Role.COMMUNITY_WORKER])
    html = client.get(reverse("ledgers:detail", args=["residents", resident.pk])).content.decode()
    assert 'data-reveal="id_number"' in html
    response = client.post(url, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and resident.id_number in response.content.decode()
    event = AuditEvent.objects.get(event_type="ledgers.reveal")
    assert (event.actor, event.target_id, event.changes) == (
        world.users[Role.COMMUNITY_WORKER],
        str(resident.pk),
        {"field": "id_number"},
    )
    assert client.get(url).status_code == 405  # a GET (a prefetch, a link) never reveals
    birth = client.post(reverse("ledgers:reveal", args=["residents", resident.pk, "birth_date"]))
    assert resident.birth_date.isoformat() in birth.content.decode()
    revealed = AuditEvent.objects.filter(event_type="ledgers.reveal", changes={"field": "birth_date"})
    assert revealed.count() == 1
    other = records["residents"]["other_community"]
    assert client.post(reverse("ledgers:reveal", args=["residents", other.pk, "name"])).status_code == 404
    assert (
        client.post(reverse("ledgers:reveal", args=["residents", resident.pk, "address"])).status_code == 404
    )


def test_health_archive_is_for_reveal_holders_and_each_reading_is_audited(world, client, records):
    resident = records["residents"]["grid"]
    services.health_archive_save(by=BY, resident=resident, chronic_conditions="糖尿病")
    url = reverse("ledgers:health", args=[resident.pk])
    client.force_login(world.users[Role.GRID_WORKER])
    assert client.get(url).status_code == 404
    client.force_login(world.users[Role.LEADER])
    before = AuditEvent.objects.filter(event_type="ledgers.health_read").count()
    response = client.get(url)
    assert response.status_code == 200 and "糖尿病" in response.content.decode()
    assert AuditEvent.objects.filter(event_type="ledgers.health_read").count() == before + 1
    update = AuditEvent.objects.filter(event_type="ledgers.health_update").latest("seq")
    assert "糖尿病" not in str(update.changes)  # the trail names fields, not health data


def test_second_resident_with_the_same_id_is_refused_with_a_link(world, client, records):
    existing = records["residents"]["grid"]
    client.force_login(world.users[Role.COMMUNITY_WORKER])
    response = client.post(
        reverse("ledgers:create", args=["residents"]),
        {
            "org_unit": world.units["360103012001"].pk,
            "name": "另一个人",
            "id_number": existing.id_number.lower(),
        },
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "已登记为服务对象" in html
    assert reverse("ledgers:detail", args=["residents", existing.pk]) in html
    assert Resident.objects.filter(id_number=existing.id_number).count() == 1


def test_resident_form_validates_and_audits(world, client):
    client.force_login(world.users[Role.COMMUNITY_WORKER])
    url = reverse("ledgers:create", args=["residents"])
    bad = client.post(
        url,
        {"org_unit": world.units["360103012001"].pk, "name": "演示乙", "id_number": "123", "phone": "12345"},
    )
    assert bad.status_code == 400 and "18 位" in bad.content.decode()
    good = client.post(
        url,
        {
            "org_unit": world.units["360103012001"].pk,
            "name": "演示乙",
            "id_number": fake_id(77),
            "phone": "+86 139 0000 7777",
            "groups": ["youth", "needy"],
        },
    )
    resident = Resident.objects.get(id_number=fake_id(77))
    assert good.status_code == 302 and resident.phone == "13900007777"
    assert sorted(resident.group_codes) == ["needy", "youth"]
    event = AuditEvent.objects.get(event_type="ledgers.resident_create", target_id=str(resident.pk))
    assert event.changes["id_number"] == [None, fake_id(77)[:6] + "********" + fake_id(77)[-4:]]
    assert event.actor == world.users[Role.COMMUNITY_WORKER]


# --- integrity archives --------------------------------------------------------------------------------


@pytest.fixture
def archive(world):
    cadre = world.users[Role.STAFF]
    archive = services.integrity_archive_create(
        by=BY, cadre=cadre, org_unit=cadre.home_unit, position="城管办主任"
    )
    services.integrity_entry_create(
        by=BY,
        archive=archive,
        kind="talk_admonition",
        date=__import__("datetime").date(2021, 9, 3),
        title="诫勉谈话记录",
    )
    return archive


def integrity_urls(archive):
    return {
        "list": reverse("ledgers:integrity_list"),
        "detail": reverse("ledgers:integrity_detail", args=[archive.pk]),
        "create": reverse("ledgers:integrity_create"),
        "export": reverse("ledgers:integrity_export"),
    }


def test_integrity_archives_are_the_discipline_roles_alone(world, client, archive):
    urls = integrity_urls(archive)
    client.force_login(world.users[Role.DISCIPLINE])
    for name, url in urls.items():
        assert client.get(url).status_code == 200, name
    assert "诫勉谈话" in client.get(urls["detail"]).content.decode()
    assert AuditEvent.objects.filter(event_type="ledgers.integrity_export").count() == 1
    for role, user in world.users.items():
        if role == Role.DISCIPLINE:
            continue
        client.force_login(user)
        for name, url in urls.items():
            assert client.get(url).status_code == 404, (role, name)
        assert (
            client.post(urls["detail"], {"kind": "study", "date": "2021-01-01", "title": "x"}).status_code
            == 404
        )
    # the discipline role of another street does not see this street's archives
    client.force_login(world.other[Role.DISCIPLINE])
    assert client.get(urls["detail"]).status_code == 404
    assert "城管办主任" not in client.get(urls["list"]).content.decode()
    assert archive.entries.count() == 1


def test_discipline_adds_entries_and_opens_archives(world, client, archive):
    client.force_login(world.users[Role.DISCIPLINE])
    response = client.post(
        reverse("ledgers:integrity_detail", args=[archive.pk]),
        {"kind": "criticism", "date": "2021-10-08", "title": "通报批评:值班脱岗"},
    )
    assert response.status_code == 302 and archive.entries.filter(kind="criticism").count() == 1
    assert AuditEvent.objects.filter(event_type="ledgers.integrity_entry_create").count() == 2
    leader = world.users[Role.LEADER]
    response = client.post(reverse("ledgers:integrity_create"), {"cadre": leader.pk, "position": "主任"})
    assert response.status_code == 302
    assert IntegrityArchive.objects.get(cadre=leader).org_unit == leader.home_unit


def test_navigation_entries(world, client):
    client.force_login(world.users[Role.LEADER])
    html = client.get(reverse("ledgers:index")).content.decode()
    assert 'data-nav="ledgers"' in html and 'data-nav="integrity"' not in html
    client.force_login(world.users[Role.DISCIPLINE])
    html = client.get(reverse("ledgers:integrity_list")).content.decode()
    assert 'data-nav="integrity"' in html and 'data-nav="ledgers"' not in html


def test_api_lists_masked_records_in_scope(world, client, records):
    from jiedao.accounts import tokens

    _row, token = tokens.issue(BY, world.users[Role.COMMUNITY_WORKER], "test")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    response = client.get("/api/ledgers/residents/", **auth)
    assert response.status_code == 200
    body = response.json()
    resident = records["residents"]["grid"]
    assert body["count"] == 1 and body["results"][0]["id"] == resident.pk
    values = body["results"][0]["values"]
    assert values["姓名"] == mask_name(resident.name) and resident.id_number not in response.content.decode()
    assert values["手机号"] == resident.phone[:3] + "****" + resident.phone[-4:]
    assert values["出生日期"] == f"{resident.birth_date:%Y}-**-**"  # with the masked ID: no whole number
    assert client.get(f"/api/ledgers/residents/{resident.pk}", **auth).status_code == 200
    other = records["residents"]["other_community"]
    assert client.get(f"/api/ledgers/residents/{other.pk}", **auth).status_code == 404
    assert client.get("/api/ledgers/integrity/", **auth).status_code == 404
    _row, token = tokens.issue(BY, world.users[Role.DISCIPLINE], "test")
    assert client.get("/api/ledgers/residents/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 404


def test_search_looks_in_personal_fields_only_where_they_may_be_seen(world, client, records):
    """A grid worker sees ID numbers, phones and names masked: a search matching them would
    give the hidden characters back one query at a time, so for them it looks elsewhere."""
    resident = records["residents"]["grid"]
    url = reverse("ledgers:list", args=["residents"])
    for needle in (resident.id_number[:10], resident.phone, resident.name):
        client.force_login(world.users[Role.GRID_WORKER])
        assert f'data-pk="{resident.pk}"' not in client.get(url, {"q": needle}).content.decode(), needle
        client.force_login(world.users[Role.COMMUNITY_WORKER])
        assert f'data-pk="{resident.pk}"' in client.get(url, {"q": needle}).content.decode(), needle
    type(resident).objects.filter(pk=resident.pk).update(address="兰宫路小区12栋")
    client.force_login(world.users[Role.GRID_WORKER])  # what the grid worker sees still finds it
    assert f'data-pk="{resident.pk}"' in client.get(url, {"q": "兰宫路小区"}).content.decode()
    assert f'data-pk="{resident.pk}"' not in client.get(url, {"q": "十里江山"}).content.decode()


def test_the_change_history_reads_as_labels_and_names(world, client, records):
    """What an event stored (codes, ids, lists) is shown as people read it."""
    from jiedao.ledgers.views import _changes

    resident = records["residents"]["grid"]
    changes = {"gender": [None, "female"], "groups": [[], ["employed", "youth"]],
               "org_unit": [None, resident.org_unit_id], "notes": ["", "独居"]}
    shown = dict(_changes(resident, changes))
    assert shown["性别"] == "女" and shown["人群类别"] == "— → 在职人群、青少年"
    assert shown["所属单位"] == str(resident.org_unit) and "→" not in shown["所属单位"]
    assert shown["备注"] == "— → 独居"
    assert "female" not in str(shown) and "['" not in str(shown)


def test_editors_without_reveal_are_not_shown_personal_fields(world, client, records):
    household = records["households"]["grid"]
    client.force_login(world.users[Role.GRID_WORKER])
    html = client.get(reverse("ledgers:edit", args=["households", household.pk])).content.decode()
    assert household.head_name not in html and 'name="head_name"' not in html and 'name="stage"' in html
    response = client.post(reverse("ledgers:edit", args=["households", household.pk]), {
        "org_unit": household.org_unit_id, "plot_code": "CY203-B07", "household_no": household.household_no,
        "certificate_type": "city", "area": "60", "stage": "choosing"})
    assert response.status_code == 302
    household.refresh_from_db()
    assert (household.stage, household.area) == ("choosing", Decimal("60.00"))
    assert household.head_name == "演示户主104"
    assert not AuditEvent.objects.filter(event_type="ledgers.reveal").exists()
    client.force_login(world.users[Role.COMMUNITY_WORKER])
    html = client.get(reverse("ledgers:edit", args=["households", household.pk])).content.decode()
    assert household.head_name in html
    assert AuditEvent.objects.filter(event_type="ledgers.reveal", target_id=str(household.pk)).count() == 1

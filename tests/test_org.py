"""The organisation tree and GB/T 2260 region codes."""

import pytest
from django.core.exceptions import ValidationError

from jiedao.audit.models import AuditEvent
from jiedao.audit.trail import Actor
from jiedao.core.models import OrgUnit, OrgUnitKind
from jiedao.core.regions import validate_region_code
from jiedao.core.services import org_unit_create, org_unit_update

BY = Actor.system("test")


@pytest.mark.parametrize("kind, code, parent", [
    ("district", "360103", ""),
    ("street", "360103012", "360103"),
    ("community", "360103012001", "360103012"),
    ("community", "360103012199", "360103012"),
    ("grid", "360103012001001", "360103012001"),
    ("department", "", ""),
])
def test_valid_region_codes(kind, code, parent):
    assert validate_region_code(kind, code, parent) is None  # raises when the code is refused


@pytest.mark.parametrize("kind, code, parent, words", [
    ("district", "36010", "", "6 位数字"),
    ("district", "36010A", "", "6 位数字"),
    ("street", "360103", "360103", "9 位数字"),
    ("street", "360104012", "360103", "上级代码 360103"),
    ("street", "360103100", "360103", "001–099"),
    ("street", "360103000", "360103", "001–099"),
    ("community", "360103012200", "360103012", "001–199"),
    ("grid", "360103012001000", "360103012001", "000"),
    ("department", "360103012", "", "留空"),
])
def test_invalid_region_codes_name_the_rule(kind, code, parent, words):
    with pytest.raises(ValidationError) as excinfo:
        validate_region_code(kind, code, parent)
    assert "code" in excinfo.value.message_dict
    assert words in " ".join(excinfo.value.message_dict["code"])


def test_tree_rules_and_paths(db):
    district = org_unit_create(by=BY, kind=OrgUnitKind.DISTRICT, name="西湖区", code="360103")
    street = org_unit_create(by=BY, kind=OrgUnitKind.STREET, name="朝农街道", code="360103012",
                             parent=district)
    dept = org_unit_create(by=BY, kind=OrgUnitKind.DEPARTMENT, name="城管办", parent=street)
    assert street.path == f"/{district.pk}/{street.pk}/"
    assert district.contains(dept) and not dept.contains(street)
    assert dept.street == street
    with pytest.raises(ValidationError) as excinfo:  # a grid must sit under a community
        org_unit_create(by=BY, kind=OrgUnitKind.GRID, name="网格", code="360103012001001",
                        parent=street)
    assert "parent" in excinfo.value.message_dict
    assert not OrgUnit.objects.filter(name="网格").exists()


def test_moving_a_unit_moves_its_subtree_and_is_audited(world):
    community = world.units["360103012001"]
    grid = world.units["360103012001001"]
    # a community may only move with a code that fits its new street
    with pytest.raises(ValidationError):
        org_unit_update(by=BY, unit=community, parent=world.other_street)
    community.refresh_from_db()
    org_unit_update(by=BY, unit=community, parent=world.other_street, code="360103001009")
    grid.refresh_from_db()
    assert grid.path.startswith(world.other_street.path)
    event = AuditEvent.objects.filter(event_type="org.unit_update").latest("seq")
    assert event.changes["parent"] == [world.street.pk, world.other_street.pk]
    assert event.changes["code"] == ["360103012001", "360103001009"]

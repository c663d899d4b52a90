"""Mobile numbers: one rule for forms, services and (later) ledgers."""

import pytest
from django.core.exceptions import ValidationError

from jiedao.accounts.services import user_create
from jiedao.audit.trail import Actor
from jiedao.core.identifiers import normalize_mobile, validate_mobile


@pytest.mark.parametrize("given, stored", [
    ("13800138000", "13800138000"),
    ("+86 138-0013-8000", "13800138000"),
    ("8613800138000", "13800138000"),
])
def test_mobile_numbers_are_stored_as_eleven_digits(given, stored):
    assert normalize_mobile(given) == stored
    assert validate_mobile(normalize_mobile(given)) is None


@pytest.mark.parametrize("bad", ["12800138000", "1380013800", "138001380001", "abc"])
def test_bad_mobile_numbers_are_refused_with_the_rule(bad):
    with pytest.raises(ValidationError) as excinfo:
        validate_mobile(normalize_mobile(bad))
    assert "11 位" in excinfo.value.messages[0]


def test_the_account_service_applies_the_rule(world):
    by = Actor(user=world.users["sysadmin"])
    user = user_create(by=by, username="newbie", password="Qzrwvtk7!", home_unit=world.street,
                       phone="+86 139 0000 0001")
    assert user.phone == "13900000001"
    with pytest.raises(ValidationError) as excinfo:
        user_create(by=by, username="newbie2", password="Qzrwvtk7!", home_unit=world.street,
                    phone="12345")
    assert "phone" in excinfo.value.message_dict


def test_the_create_page_names_the_phone_field(client, world):
    client.force_login(world.users["sysadmin"])
    response = client.post("/accounts/users/new/", {
        "username": "newbie", "full_name": "新人", "phone": "12345",
        "home_unit": world.street.pk, "password": "Qzrwvtk7!", "password2": "Qzrwvtk7!",
    })
    assert response.status_code == 200
    assert response.context["form"].errors["phone"]

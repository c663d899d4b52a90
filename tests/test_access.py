"""The access matrix: each role × own scope / other scope, through the one access layer."""

import pytest
from django.http import Http404

from jiedao.accounts import access
from jiedao.accounts.models import Membership, User
from jiedao.accounts.roles import Cap, Role
from jiedao.core.models import OrgUnit

# The specification, written out: what each role may do inside its own unit's subtree.
# (A change to GRANTS that is not also a change of policy here fails this file.)
EXPECTED = {
    Role.LEADER: {Cap.BUSINESS_READ, Cap.BUSINESS_WRITE, Cap.SUPERVISE, Cap.REVEAL_PERSONAL},
    Role.STAFF: {Cap.BUSINESS_READ, Cap.BUSINESS_WRITE, Cap.REVEAL_PERSONAL},
    Role.COMMUNITY_WORKER: {Cap.BUSINESS_READ, Cap.BUSINESS_WRITE, Cap.REVEAL_PERSONAL},
    Role.GRID_WORKER: {Cap.BUSINESS_READ, Cap.BUSINESS_WRITE, Cap.GRID_REPORT},
    Role.PROVIDER: {Cap.FULFIL_ORDERS},
    Role.DISCIPLINE: {Cap.INTEGRITY},
    Role.RESIDENT: {Cap.OWN_REQUESTS},
    Role.DISTRICT_VIEWER: {Cap.BUSINESS_READ},
    Role.DISTRICT_STATISTICIAN: {Cap.BUSINESS_READ, Cap.DISTRICT_STATS},
    Role.SYSADMIN: {Cap.USERS, Cap.CONFIG},
    Role.SECADMIN: {Cap.ROLES, Cap.SECURITY},
    Role.AUDITOR: {Cap.AUDIT},
}
ADMIN_CAPS = {Cap.USERS, Cap.CONFIG, Cap.ROLES, Cap.SECURITY, Cap.AUDIT}
BUSINESS_CAPS = set(Cap.values) - ADMIN_CAPS


def own_unit(user: User) -> OrgUnit:
    return Membership.objects.get(user=user).unit


def test_each_role_has_its_capabilities_in_its_own_scope(world):
    for role in Role.values:
        user = world.users[role]
        held = {cap for cap in Cap.values if access.has_cap(user, cap, own_unit(user))}
        assert held == EXPECTED[role], role


def test_no_role_has_anything_in_the_other_street(world):
    """A 朝农 persona holds no capability on 南浦's units, whatever the capability."""
    units = list(OrgUnit.objects.filter(path__startswith=world.other_street.path))
    for role in Role.values:
        if role in (Role.DISTRICT_VIEWER, Role.DISTRICT_STATISTICIAN):
            continue  # district roles read the whole district by design (next test)
        for cap in Cap.values:
            for unit in units:
                assert not access.has_cap(world.users[role], cap, unit), (role, cap, unit.name)


def test_other_street_personas_have_nothing_in_ours(world):
    units = list(OrgUnit.objects.filter(path__startswith=world.street.path))
    for role, user in world.other.items():
        if role in (Role.DISTRICT_VIEWER, Role.DISTRICT_STATISTICIAN):
            continue
        for cap in Cap.values:
            assert not any(access.has_cap(user, cap, unit) for unit in units), (role, cap)


def test_district_viewer_reads_every_street_and_writes_none(world):
    viewer = world.users[Role.DISTRICT_VIEWER]
    for street in (world.street, world.other_street):
        assert access.has_cap(viewer, Cap.BUSINESS_READ, street)
        assert not access.has_cap(viewer, Cap.BUSINESS_WRITE, street)


def test_scope_covers_the_subtree_not_the_parent(world):
    worker = world.users[Role.COMMUNITY_WORKER]  # 兰宫路社区
    community = world.units["360103012001"]
    grid = world.units["360103012001001"]
    sibling = world.units["360103012002"]
    assert access.has_cap(worker, Cap.BUSINESS_READ, grid)
    assert not access.has_cap(worker, Cap.BUSINESS_READ, world.street)
    assert not access.has_cap(worker, Cap.BUSINESS_READ, sibling)
    visible = set(access.scoped(OrgUnit.objects.all(), worker, Cap.BUSINESS_READ, field=""))
    assert visible == set(OrgUnit.objects.filter(path__startswith=community.path))


def test_separation_of_duties_between_the_three_admins():
    for a in (Role.SYSADMIN, Role.SECADMIN, Role.AUDITOR):
        assert not EXPECTED[a] & BUSINESS_CAPS, a
        for b in (Role.SYSADMIN, Role.SECADMIN, Role.AUDITOR):
            if a != b:
                assert not EXPECTED[a] & EXPECTED[b], (a, b)


def test_integrity_archives_belong_to_the_discipline_role_alone():
    holders = {role for role, caps in EXPECTED.items() if Cap.INTEGRITY in caps}
    assert holders == {Role.DISCIPLINE}


def test_missing_and_not_yours_are_the_same_404(world):
    missing_id = OrgUnit.objects.order_by("-pk").first().pk + 1000
    for role in Role.values:
        user = world.users[role]
        district_wide = role in (Role.DISTRICT_VIEWER, Role.DISTRICT_STATISTICIAN)
        not_yours = [] if district_wide else [world.other_street.pk]
        if Cap.BUSINESS_READ not in EXPECTED[role]:
            not_yours.append(own_unit(user).pk)  # no business reading, even at home
        for unit_id in [missing_id, "abc", *not_yours]:
            with pytest.raises(Http404):
                access.access_unit_by_id(user, unit_id)
        if Cap.BUSINESS_READ in EXPECTED[role]:
            assert access.access_unit_by_id(user, own_unit(user).pk) == own_unit(user)


def test_users_are_managed_by_the_sysadmin_of_their_home_unit(world):
    admin = world.users[Role.SYSADMIN]
    mine = world.users[Role.STAFF]
    theirs = world.other[Role.STAFF]
    assert access.access_user_by_id(admin, mine.pk) == mine
    with pytest.raises(Http404):
        access.access_user_by_id(admin, theirs.pk)
    with pytest.raises(Http404):  # the security admin does not manage accounts
        access.access_user_by_id(world.users[Role.SECADMIN], mine.pk)


def test_grants_follow_membership_changes_and_deactivation(world):
    from jiedao.accounts.services import membership_revoke, user_set_active
    from jiedao.audit.trail import Actor

    leader = world.users[Role.LEADER]
    assert access.has_cap(leader, Cap.SUPERVISE, world.street)
    membership_revoke(by=Actor(user=world.users[Role.SECADMIN]),
                      membership=leader.memberships.get())
    leader = User.objects.get(pk=leader.pk)
    assert not access.has_cap(leader, Cap.BUSINESS_READ, world.street)

    staff = world.users[Role.STAFF]
    user_set_active(by=Actor(user=world.users[Role.SYSADMIN]), user=staff, active=False)
    staff = User.objects.get(pk=staff.pk)
    assert access.capabilities(staff) == set()


def test_admin_site_is_for_config_and_role_admins_only(client, world):
    for role in Role.values:
        client.force_login(world.users[role])
        response = client.get("/admin/")
        if role in (Role.SYSADMIN, Role.SECADMIN):
            assert response.status_code == 200, role
        else:
            assert response.status_code == 302, role
            assert "/admin/login/" in response["Location"]


def test_admin_lists_only_units_in_scope(client, world):
    client.force_login(world.users[Role.SYSADMIN])
    body = client.get("/admin/core/orgunit/").content.decode()
    assert "兰宫路社区" in body
    assert "南浦社区" not in body
    # and a unit of another street cannot be opened by id
    other = world.units["360103001001"]
    assert client.get(f"/admin/core/orgunit/{other.pk}/change/").status_code in (302, 404)


def test_grants_read_by_the_statement_built_once_equal_the_orm_query(world):
    """``access.grants`` runs a statement built once (``_grants_statement``): for every persona,
    and with a membership in a deactivated unit left out, it reads what the ORM query reads."""
    def orm(user):
        return list(Membership.objects.filter(user=user, unit__is_active=True)
                    .values_list("role", "unit__path", "unit_id"))

    community = world.units["360103012001"]
    Membership.objects.create(user=world.users[Role.LEADER], role=Role.STAFF, unit=community)
    OrgUnit.objects.filter(pk=community.pk).update(is_active=False)
    checked = 0
    for user in User.objects.all():
        assert sorted(access.grants(user)) == sorted(orm(user)), user.username
        checked += bool(orm(user))
    assert checked >= 10 and all(path != community.path for _r, path, _i in access.grants(
        User.objects.get(pk=world.users[Role.LEADER].pk)))

"""The staff pages of the Foundation, through HTTP, against the personas.

Each page is opened by the role it is for (it renders what that role should see), by a role
it is not for (404, never 403) and with ids from the other street (404 as well). Changes made
through the pages are checked in the database and in the audit trail.
"""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from jiedao.accounts.models import Membership, User
from jiedao.accounts.roles import Role
from jiedao.audit.models import AuditEvent
from jiedao.core.masking import mask_id, mask_name, mask_phone, mask_text

STRONG = "Qiang@Mima2024"


def login(client, user):
    client.force_login(user)
    return client


def html(response) -> str:
    return response.content.decode()


def table(response) -> str:
    """The list table only (the grant form above it also names accounts)."""
    return html(response).split('<table class="data">', 1)[1].split("</table>", 1)[0]


# --- masking --------------------------------------------------------------------------------

def test_masking_follows_the_standard():
    assert mask_name("张三") == "张*"
    assert mask_name("王建国") == "王**"
    assert mask_name("") == ""
    assert mask_name("匿名市民") == "匿名市民" and mask_name("匿名") == "匿名"  # no name to hide
    assert mask_phone("13800138000") == "138****8000"
    assert mask_id("11010519491231002X") == "110105********002X"
    assert mask_id("") == "" and mask_phone(None) == ""


@pytest.mark.parametrize("written, shown", [
    ("回电 13598765432。", "回电 135****5432。"),
    ("+8613598765432", "135****5432"),
    ("0086 135 9876 5432", "135****5432"),
    ("135-9876-5432;", "135****5432;"),
    ("座机 0791-86661234 或 0791 8666123", "座机 0791-****1234 或 0791-****6123"),
    ("身份证11010519491231002x号", "身份证110105********002x号"),
    ("编号 1234567", "编号 ***4567"),
    ("邮箱 zhao.li@example.com.cn", "邮箱 z***@example.com.cn"),
    ("联系人邮箱li@jd.gov.cn,请发邮件至zhangsan@qq.com", "联系人邮箱l***@jd.gov.cn,请发邮件至z***@qq.com"),
    ("李敏已上门,李敏明天回访", "李*已上门,李*明天回访"),
    ("2021年5月3日 12 户 17号 3栋 100元", "2021年5月3日 12 户 17号 3栋 100元"),  # not personal
])
def test_free_text_is_masked_as_the_fields_are(written, shown):
    assert mask_text(written, names=["李敏", "王"]) == shown


# --- layout and login -----------------------------------------------------------------------

def test_login_page_is_chinese_and_has_no_navigation(client, db):
    response = client.get(reverse("accounts:login"))
    page = html(response)
    assert response.status_code == 200
    assert '<html lang="zh-hans">' in page
    assert "用户名" in page and "密码" in page
    assert "data-nav=" not in page
    assert "/static/jiedao/app.css" in page
    assert "htmx" in page  # served by django-htmx from our own static files
    assert "http://" not in page and "https://" not in page  # no CDN


def test_the_stylesheet_and_script_are_found_by_collectstatic():
    from django.contrib.staticfiles import finders

    assert finders.find("jiedao/app.css") and finders.find("jiedao/app.js")
    assert finders.find("django_htmx/htmx-2.min.js")


def test_login_page_shows_the_lockout_message(client, world):
    user = world.users["leader"]
    user.locked_until = timezone.now() + timedelta(minutes=30)
    user.save(update_fields=["locked_until"])
    response = client.post(reverse("accounts:login"),
                           {"username": user.username, "password": world.password})
    assert response.status_code == 200
    assert "账号已锁定至" in html(response)
    assert "_auth_user_id" not in client.session


def test_login_then_home(client, world):
    response = client.post(reverse("accounts:login"),
                           {"username": "lingdao", "password": world.password}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("front:home")
    assert "工作台" in html(response)


def test_home_requires_login(client, db):
    response = client.get(reverse("front:home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_home_shows_memberships_and_cards(client, world):
    page = html(login(client, world.users["community_worker"]).get(reverse("front:home")))
    assert "社区工作者" in page
    assert "兰宫路社区" in page
    assert 'data-card="org"' in page
    assert 'data-card="users"' not in page
    # The top bar names the user, the role and the unit; logout is a POST form.
    assert "陈芳" in page
    assert f'action="{reverse("accounts:logout")}"' in page


@pytest.mark.parametrize("role, shown", [
    ("sysadmin", True), ("secadmin", False), ("auditor", False), ("leader", False),
    ("resident", False),
])
def test_nav_offers_user_management_to_the_sysadmin_only(client, world, role, shown):
    page = html(login(client, world.users[role]).get(reverse("front:home")))
    assert ('data-nav="users"' in page) is shown
    assert 'data-nav="home"' in page


def test_nav_marks_the_current_page(client, world):
    page = html(login(client, world.users["sysadmin"]).get(reverse("accounts:user_list")))
    assert 'data-nav="users" class="is-current" aria-current="page"' in page
    assert 'data-nav="home" class="is-current"' not in page


# --- organisation ---------------------------------------------------------------------------

def test_org_tree_for_a_leader_covers_the_own_street_only(client, world):
    response = login(client, world.users["leader"]).get(reverse("front:org_tree"))
    page = html(response)
    assert response.status_code == 200
    assert "朝农街道" in page and "兰宫路社区" in page and "城管办" in page
    assert "360103012001" in page
    assert "南浦街道" not in page and "南浦社区" not in page
    # The street is the root, its communities one level below, their grids two.
    assert f'href="{reverse("front:org_unit", args=[world.units["360103012"].pk])}"' in page
    assert 'data-depth="0"' in page and 'data-depth="2"' in page
    assert page.index("兰宫路社区") < page.index("兰宫路社区第一网格") < page.index("十里江山社区")


def test_org_tree_for_the_district_viewer_covers_every_street(client, world):
    page = html(login(client, world.users["district_viewer"]).get(reverse("front:org_tree")))
    assert "西湖区" in page and "南浦街道" in page and "朝农街道" in page


@pytest.mark.parametrize("role", ["resident", "provider", "auditor", "discipline"])
def test_org_pages_are_404_without_an_org_capability(client, world, role):
    login(client, world.users[role])
    assert client.get(reverse("front:org_tree")).status_code == 404
    url = reverse("front:org_unit", args=[world.street.pk])
    assert client.get(url).status_code == 404


def test_org_unit_shows_chain_children_and_member_counts(client, world):
    community = world.units["360103012001"]
    response = login(client, world.users["leader"]).get(
        reverse("front:org_unit", args=[community.pk]))
    page = html(response)
    assert response.status_code == 200
    assert "朝农街道" in page  # parent chain
    assert "兰宫路社区第一网格" in page  # children
    # shequ, fuwu and jumin hold roles directly on 兰宫路社区; wangge below it.
    assert 'data-count="direct_members">3<' in page
    assert 'data-count="subtree_members">4<' in page


def test_org_unit_is_404_out_of_scope_or_missing(client, world):
    login(client, world.users["leader"])
    assert client.get(reverse("front:org_unit", args=[world.other_street.pk])).status_code == 404
    assert client.get(reverse("front:org_unit", args=[999999])).status_code == 404
    # The sysadmin reaches units through Cap.USERS.
    login(client, world.users["sysadmin"])
    assert client.get(reverse("front:org_unit", args=[world.street.pk])).status_code == 200


# --- 账号管理 ----------------------------------------------------------------------------------

def test_user_list_masks_names_and_stays_in_scope(client, world, django_assert_max_num_queries):
    login(client, world.users["sysadmin"])
    with django_assert_max_num_queries(10):
        response = client.get(reverse("accounts:user_list"))
    page = html(response)
    assert response.status_code == 200
    assert "lingdao" in page and "keshi" in page
    assert "王建国" not in page and "王**" in page
    assert "李敏" not in page and "李*" in page
    assert "other_leader" not in page  # home unit in 南浦街道
    assert "quji" not in page  # home unit is the district, above the sysadmin's street


def test_user_list_query_count_does_not_grow_with_rows(client, world,
                                                       django_assert_max_num_queries):
    login(client, world.users["sysadmin"])
    for i in range(20):
        User.objects.create(username=f"extra{i}", full_name="张三", home_unit=world.street)
    with django_assert_max_num_queries(10):
        page = html(client.get(reverse("accounts:user_list")))
    assert page.count("张*<") == 20


def test_user_list_search_and_status_filter(client, world):
    login(client, world.users["sysadmin"])
    keshi = world.users["staff"]
    keshi.locked_until = timezone.now() + timedelta(minutes=20)
    keshi.save(update_fields=["locked_until"])

    page = html(client.get(reverse("accounts:user_list"), {"q": "王建"}))
    assert "lingdao" in page and "keshi" not in page

    page = html(client.get(reverse("accounts:user_list"), {"status": "locked"}))
    assert "keshi" in page and "lingdao" not in page
    until = timezone.localtime(keshi.locked_until)
    # the date is shown too when the lock runs past midnight (the test may run at 23:50)
    shown = until.strftime("%H:%M" if until.date() == timezone.localdate() else "%m-%d %H:%M")
    assert f"已锁定至 {shown}" in page

    page = html(client.get(reverse("accounts:user_list"), {"status": "active"}))
    assert "lingdao" in page and "keshi" not in page


def test_user_list_htmx_search_returns_the_table_only(client, world):
    login(client, world.users["sysadmin"])
    response = client.get(reverse("accounts:user_list"), {"q": "shequ"},
                          headers={"HX-Request": "true"})
    page = html(response)
    assert response.status_code == 200
    assert page.lstrip().startswith('<div id="user-table">')
    assert "<html" not in page
    assert "shequ" in page and "lingdao" not in page


@pytest.mark.parametrize("role", ["secadmin", "auditor", "leader", "resident"])
def test_user_pages_are_404_for_other_roles(client, world, role):
    login(client, world.users[role])
    target = world.users["staff"]
    assert client.get(reverse("accounts:user_list")).status_code == 404
    assert client.get(reverse("accounts:user_create")).status_code == 404
    assert client.get(reverse("accounts:user_detail", args=[target.pk])).status_code == 404
    assert client.post(reverse("accounts:user_unlock", args=[target.pk])).status_code == 404


def test_user_detail_in_scope_masked_and_out_of_scope_404(client, world):
    login(client, world.users["sysadmin"])
    lingdao = world.users["leader"]
    lingdao.phone = "13800138000"
    lingdao.save(update_fields=["phone"])
    response = client.get(reverse("accounts:user_detail", args=[lingdao.pk]))
    page = html(response)
    assert response.status_code == 200
    assert "王**" in page and "王建国" not in page
    assert "138****8000" in page and "13800138000" not in page
    assert "街道领导" in page  # memberships
    other = world.other["leader"]
    assert client.get(reverse("accounts:user_detail", args=[other.pk])).status_code == 404
    assert client.get(reverse("accounts:user_detail", args=[999999])).status_code == 404


def test_create_user_through_the_page(client, world):
    login(client, world.users["sysadmin"])
    community = world.units["360103012002"]
    response = client.post(reverse("accounts:user_create"), {
        "username": "xinren", "full_name": "黄新人", "phone": "13912345678",
        "home_unit": community.pk, "password": STRONG, "password2": STRONG,
    })
    created = User.objects.get(username="xinren")
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:user_detail", args=[created.pk])
    assert created.home_unit == community and created.check_password(STRONG)
    assert AuditEvent.objects.filter(event_type="accounts.user_create",
                                     target_id=str(created.pk),
                                     actor=world.users["sysadmin"]).exists()
    page = html(client.get(response["Location"]))
    assert "已创建账号“xinren”" in page


def test_create_user_with_a_weak_password_names_the_rule(client, world):
    login(client, world.users["sysadmin"])
    response = client.post(reverse("accounts:user_create"), {
        "username": "ruomima", "full_name": "弱密码", "home_unit": world.street.pk,
        "password": "abcdefgh", "password2": "abcdefgh",
    })
    page = html(response)
    assert response.status_code == 200
    assert "密码须包含小写字母、大写字母、数字、符号中的至少 3 类" in page
    assert 'id="id_password_error"' in page  # on the password field, not just a banner
    assert not User.objects.filter(username="ruomima").exists()


def test_create_user_refuses_a_home_unit_out_of_scope(client, world):
    login(client, world.users["sysadmin"])
    response = client.post(reverse("accounts:user_create"), {
        "username": "yuejie", "full_name": "越界", "home_unit": world.other_street.pk,
        "password": STRONG, "password2": STRONG,
    })
    assert response.status_code == 200
    assert "南浦街道" not in html(response)  # not even offered
    assert not User.objects.filter(username="yuejie").exists()


def test_create_user_duplicate_username_is_shown_on_the_field(client, world):
    login(client, world.users["sysadmin"])
    response = client.post(reverse("accounts:user_create"), {
        "username": "lingdao", "full_name": "重名", "home_unit": world.street.pk,
        "password": STRONG, "password2": STRONG,
    })
    assert "用户名“lingdao”已被使用" in html(response)
    assert User.objects.filter(username="lingdao").count() == 1


def test_unlock_through_the_page(client, world):
    login(client, world.users["sysadmin"])
    target = world.users["grid_worker"]
    target.locked_until = timezone.now() + timedelta(minutes=30)
    target.failed_logins = 5
    target.save(update_fields=["locked_until", "failed_logins"])
    page = html(client.get(reverse("accounts:user_detail", args=[target.pk])))
    assert "已锁定至" in page and reverse("accounts:user_unlock", args=[target.pk]) in page

    response = client.post(reverse("accounts:user_unlock", args=[target.pk]), follow=True)
    target.refresh_from_db()
    assert target.locked_until is None and target.failed_logins == 0
    assert "已解锁账号“wangge”" in html(response)
    assert AuditEvent.objects.filter(event_type="accounts.user_unlock",
                                     target_id=str(target.pk)).exists()


def test_unlock_out_of_scope_is_404_and_changes_nothing(client, world):
    login(client, world.users["sysadmin"])
    other = world.other["leader"]
    until = timezone.now() + timedelta(minutes=30)
    User.objects.filter(pk=other.pk).update(locked_until=until)
    assert client.post(reverse("accounts:user_unlock", args=[other.pk])).status_code == 404
    other.refresh_from_db()
    assert other.locked_until == until


def test_unlock_needs_post(client, world):
    login(client, world.users["sysadmin"])
    url = reverse("accounts:user_unlock", args=[world.users["staff"].pk])
    assert client.get(url).status_code == 405


def test_deactivate_and_reactivate_through_the_page(client, world):
    login(client, world.users["sysadmin"])
    target = world.users["staff"]
    url = reverse("accounts:user_set_active", args=[target.pk])
    response = client.post(url, {"active": "0"}, follow=True)
    target.refresh_from_db()
    assert target.is_active is False
    assert "已停用账号“keshi”" in html(response)
    assert "已停用" in html(client.get(reverse("accounts:user_list"), {"status": "inactive"}))

    client.post(url, {"active": "1"})
    target.refresh_from_db()
    assert target.is_active is True
    assert client.post(url, {"active": "maybe"}).status_code == 400


def test_sysadmin_cannot_deactivate_herself(client, world):
    me = world.users["sysadmin"]
    login(client, me)
    response = client.post(reverse("accounts:user_set_active", args=[me.pk]), {"active": "0"},
                           follow=True)
    me.refresh_from_db()
    assert me.is_active is True
    assert "不能停用自己的账号" in html(response)


def test_set_password_through_the_page(client, world):
    login(client, world.users["sysadmin"])
    target = world.users["staff"]
    url = reverse("accounts:user_password", args=[target.pk])

    response = client.post(url, {"password": "12345678", "password2": "12345678"})
    assert response.status_code == 200
    assert "至少 3 类" in html(response)
    target.refresh_from_db()
    assert target.check_password(world.password)

    response = client.post(url, {"password": STRONG, "password2": STRONG + "x"})
    assert "两次输入的密码不一致" in html(response)

    response = client.post(url, {"password": STRONG, "password2": STRONG})
    assert response.status_code == 302
    target.refresh_from_db()
    assert target.check_password(STRONG)
    assert AuditEvent.objects.filter(event_type="accounts.password_set",
                                     target_id=str(target.pk)).exists()


# --- 角色授权 ----------------------------------------------------------------------------------

def test_membership_list_for_the_secadmin_stays_in_scope(client, world,
                                                        django_assert_max_num_queries):
    login(client, world.users["secadmin"])
    with django_assert_max_num_queries(14):
        response = client.get(reverse("accounts:membership_list"))
    page = html(response)
    assert response.status_code == 200
    assert "lingdao" in page and "街道领导" in page
    assert "other_leader" not in page
    assert "王建国" not in page and "王**" in page
    assert 'data-nav="memberships"' in page


def test_membership_list_filters(client, world):
    login(client, world.users["secadmin"])
    page = table(client.get(reverse("accounts:membership_list"), {"role": Role.GRID_WORKER}))
    assert "wangge" in page and "lingdao" not in page
    community = world.units["360103012001"]
    page = table(client.get(reverse("accounts:membership_list"), {"unit": community.pk}))
    assert "shequ" in page and "wangge" in page and "keshi" not in page


@pytest.mark.parametrize("role", ["sysadmin", "auditor", "leader"])
def test_membership_pages_are_404_for_other_roles(client, world, role):
    login(client, world.users[role])
    m = Membership.objects.get(user=world.users["staff"])
    assert client.get(reverse("accounts:membership_list")).status_code == 404
    assert client.post(reverse("accounts:membership_grant"), {
        "user": world.users["staff"].pk, "unit": world.street.pk, "role": Role.LEADER,
    }).status_code == 404
    assert client.post(reverse("accounts:membership_revoke", args=[m.pk])).status_code == 404
    assert Membership.objects.filter(pk=m.pk).exists()


def test_grant_through_the_page(client, world):
    login(client, world.users["secadmin"])
    keshi, community = world.users["staff"], world.units["360103012001"]
    response = client.post(reverse("accounts:membership_grant"), {
        "user": keshi.pk, "unit": community.pk, "role": Role.COMMUNITY_WORKER,
    }, follow=True)
    m = Membership.objects.get(user=keshi, unit=community, role=Role.COMMUNITY_WORKER)
    assert "已授予“keshi”在兰宫路社区的“社区工作者”角色" in html(response)
    event = AuditEvent.objects.get(event_type="accounts.membership_grant", target_id=str(m.pk))
    assert event.actor == world.users["secadmin"]


def test_grant_refused_by_the_service_shows_why(client, world):
    login(client, world.users["secadmin"])
    keshi, community = world.users["staff"], world.units["360103012001"]
    response = client.post(reverse("accounts:membership_grant"), {
        "user": keshi.pk, "unit": community.pk, "role": Role.LEADER,
    })
    assert response.status_code == 200
    assert "街道领导 不能授在社区上" in html(response)
    assert not Membership.objects.filter(user=keshi, role=Role.LEADER).exists()

    me = world.users["secadmin"]
    response = client.post(reverse("accounts:membership_grant"), {
        "user": me.pk, "unit": world.street.pk, "role": Role.LEADER,
    })
    assert "不能给自己授权" in html(response)
    assert not Membership.objects.filter(user=me, role=Role.LEADER).exists()


def test_grant_out_of_scope_is_refused(client, world):
    login(client, world.users["secadmin"])
    count = Membership.objects.count()
    # A unit in 南浦街道, and a user whose home unit is there: neither is offered.
    response = client.post(reverse("accounts:membership_grant"), {
        "user": world.users["staff"].pk, "unit": world.other_street.pk, "role": Role.STAFF,
    })
    assert response.status_code == 200 and "选择一个有效的选项" in html(response)
    response = client.post(reverse("accounts:membership_grant"), {
        "user": world.other["staff"].pk, "unit": world.street.pk, "role": Role.STAFF,
    })
    assert response.status_code == 200 and "选择一个有效的选项" in html(response)
    assert Membership.objects.count() == count


def test_revoke_through_the_page(client, world):
    login(client, world.users["secadmin"])
    m = Membership.objects.get(user=world.users["staff"])
    response = client.post(reverse("accounts:membership_revoke", args=[m.pk]), follow=True)
    assert not Membership.objects.filter(pk=m.pk).exists()
    assert "已撤销“keshi”在城管办的“科室干部”角色" in html(response)
    assert AuditEvent.objects.filter(event_type="accounts.membership_revoke",
                                     target_id=str(m.pk),
                                     actor=world.users["secadmin"]).exists()


def test_revoke_out_of_scope_or_own_is_refused(client, world):
    me = world.users["secadmin"]
    login(client, me)
    other = Membership.objects.get(user=world.other["leader"])
    assert client.post(reverse("accounts:membership_revoke", args=[other.pk])).status_code == 404
    assert client.post(reverse("accounts:membership_revoke", args=[999999])).status_code == 404
    assert Membership.objects.filter(pk=other.pk).exists()

    mine = Membership.objects.get(user=me)
    response = client.post(reverse("accounts:membership_revoke", args=[mine.pk]), follow=True)
    assert "不能撤销自己的授权" in html(response)
    assert Membership.objects.filter(pk=mine.pk).exists()
    assert not AuditEvent.objects.filter(event_type="accounts.membership_revoke").exists()


def test_error_pages_are_chinese(rf):
    from django.contrib.auth.models import AnonymousUser
    from django.core.exceptions import PermissionDenied
    from django.views import defaults

    request = rf.get("/nowhere/")
    request.user = AnonymousUser()
    for response, words in ((defaults.page_not_found(request, Exception()), "找不到这个页面"),
                            (defaults.permission_denied(request, PermissionDenied()), "您没有权限做这件事"),
                            (defaults.server_error(request), "没有保存一半")):
        page = response.content.decode()
        assert words in page and "Not Found" not in page and "Server Error" not in page


def test_an_empty_choice_is_offered_in_chinese(world, client):
    """Django 6.1's empty choice of a select ("- Select an option -") has no zh-hans text."""
    from jiedao.accounts.roles import Role

    client.force_login(world.users[Role.COMMUNITY_WORKER])
    page = client.get(reverse("cases:case_new")).content.decode()
    assert '<option value="" selected>请选择</option>' in page and "Select an option" not in page


def test_favicon_and_head_requests(client, world):
    icon = client.get("/favicon.ico")
    assert icon.status_code == 302 and "favicon" in icon["Location"] and icon["Location"].endswith(".svg")
    assert client.head(reverse("public:submit", args=["svc-housekeeping"])).status_code == 200

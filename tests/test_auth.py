"""Login, lockout and unlock, idle timeout, password policy."""

import time
from datetime import timedelta

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from jiedao.accounts.middleware import SESSION_KEY
from jiedao.accounts.models import User
from jiedao.accounts.roles import Role
from jiedao.accounts.services import user_unlock
from jiedao.audit.models import AuditEvent
from jiedao.audit.trail import Actor

LOGIN = "/accounts/login/"


def post_login(client, username, password):
    return client.post(LOGIN, {"username": username, "password": password})


def test_login_page_is_chinese_and_signs_in(client, world):
    page = client.get(LOGIN)
    assert page.status_code == 200
    assert "用户名" in page.content.decode() and "密码" in page.content.decode()
    response = post_login(client, "lingdao", world.password)
    assert response.status_code == 302 and response["Location"] == reverse("front:home")
    assert client.get("/").status_code == 200
    event = AuditEvent.objects.filter(event_type="auth.login").latest("seq")
    assert event.success and event.actor == world.users[Role.LEADER]
    assert event.client_ip == "127.0.0.1"


def test_the_signed_in_user_comes_with_the_home_unit_the_top_bar_names(world, django_assert_num_queries):
    from asgiref.sync import async_to_sync

    from jiedao.accounts.backends import LockoutModelBackend

    leader = world.users[Role.LEADER]
    unit_name = leader.home_unit.name
    backend = LockoutModelBackend()
    with django_assert_num_queries(1):
        user = backend.get_user(leader.pk)
        assert user == leader and user.home_unit.name == unit_name
    async_user = async_to_sync(backend.aget_user)(leader.pk)
    assert async_user == leader and "home_unit" in async_user._state.fields_cache  # read with it
    User.objects.filter(pk=leader.pk).update(is_active=False)
    assert backend.get_user(leader.pk) is None and backend.get_user(10**9) is None
    assert async_to_sync(backend.aget_user)(leader.pk) is None


def test_wrong_password_is_refused_with_a_message(client, world):
    response = post_login(client, "lingdao", "wrong-Password1")
    assert response.status_code == 200
    assert "用户名或密码不正确" in response.content.decode()
    assert "_auth_user_id" not in client.session
    event = AuditEvent.objects.filter(event_type="auth.login").latest("seq")
    assert not event.success and "第 1 次" in event.detail


def test_five_failures_lock_the_account_for_thirty_minutes(client, world, settings):
    for _ in range(settings.LOGIN_MAX_FAILURES - 1):
        assert "用户名或密码不正确" in post_login(client, "keshi", "Wrong-pass1").content.decode()
    fifth = post_login(client, "keshi", "Wrong-pass1").content.decode()
    assert "账号已锁定" in fifth
    user = User.objects.get(username="keshi")
    assert user.is_locked
    expected = timezone.now() + timedelta(minutes=settings.LOGIN_LOCK_MINUTES)
    assert abs((user.locked_until - expected).total_seconds()) < 60
    assert AuditEvent.objects.filter(event_type="auth.lock", actor=user).count() == 1

    # the right password does not help while locked
    response = post_login(client, "keshi", world.password)
    assert "账号已锁定" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_lock_expires_by_itself(client, world):
    User.objects.filter(username="keshi").update(
        locked_until=timezone.now() - timedelta(seconds=1))
    response = post_login(client, "keshi", world.password)
    assert response.status_code == 302
    user = User.objects.get(username="keshi")
    assert user.failed_logins == 0 and user.locked_until is None


def test_sysadmin_unlocks_an_account(client, world):
    User.objects.filter(username="keshi").update(
        locked_until=timezone.now() + timedelta(minutes=30))
    user = User.objects.get(username="keshi")
    user_unlock(by=Actor(user=world.users[Role.SYSADMIN], ip="10.0.0.9"), user=user)
    user.refresh_from_db()
    assert not user.is_locked
    event = AuditEvent.objects.get(event_type="accounts.user_unlock")
    assert event.actor == world.users[Role.SYSADMIN] and event.client_ip == "10.0.0.9"
    assert post_login(client, "keshi", world.password).status_code == 302


def test_a_success_resets_the_failure_count(client, world):
    for _ in range(3):
        post_login(client, "keshi", "Wrong-pass1")
    assert User.objects.get(username="keshi").failed_logins == 3
    assert post_login(client, "keshi", world.password).status_code == 302
    assert User.objects.get(username="keshi").failed_logins == 0


def test_unknown_user_fails_like_a_wrong_password(client, world):
    response = post_login(client, "nobody", "Whatever-1")
    assert "用户名或密码不正确" in response.content.decode()
    event = AuditEvent.objects.filter(event_type="auth.login").latest("seq")
    assert not event.success and event.actor is None and event.actor_label == "nobody"


def test_idle_session_is_logged_out(client, world, settings):
    client.force_login(world.users[Role.LEADER])
    assert client.get("/").status_code == 200
    session = client.session
    session[SESSION_KEY] = time.time() - settings.IDLE_TIMEOUT_MINUTES * 60 - 5
    session.save()
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(event_type="auth.idle_logout").exists()
    follow = client.get(response["Location"])
    assert "未操作" in follow.content.decode()


def test_activity_within_the_timeout_keeps_the_session(client, world, settings):
    client.force_login(world.users[Role.LEADER])
    client.get("/")
    session = client.session
    session[SESSION_KEY] = time.time() - settings.IDLE_TIMEOUT_MINUTES * 60 + 60
    session.save()
    assert client.get("/").status_code == 200
    assert client.session[SESSION_KEY] > time.time() - 5  # the clock was reset


def test_activity_is_written_to_the_session_at_most_once_a_minute(client, world):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from jiedao.accounts.middleware import TOUCH_SECONDS

    client.force_login(world.users[Role.LEADER])
    client.get("/")
    session = client.session
    recent = time.time() - TOUCH_SECONDS / 2
    session[SESSION_KEY] = recent
    session.save()
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/").status_code == 200
    assert client.session[SESSION_KEY] == recent  # not rewritten: no write for this page
    writes = [q["sql"] for q in queries if "django_session" in q["sql"]
              and q["sql"].lstrip().upper().startswith(("UPDATE", "INSERT"))]
    assert writes == []
    session = client.session
    session[SESSION_KEY] = time.time() - TOUCH_SECONDS - 1
    session.save()
    client.get("/")
    assert client.session[SESSION_KEY] > time.time() - 5  # a minute on: written again


def test_logout_is_a_post_and_is_audited(client, world):
    client.force_login(world.users[Role.LEADER])
    assert client.get("/accounts/logout/").status_code == 405
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert client.get("/").status_code == 302
    assert AuditEvent.objects.filter(event_type="auth.logout").exists()


@pytest.mark.parametrize("password, ok", [
    ("Qzrwvtk7", True),       # 3 classes, 8 characters
    ("abc-defg1", True),      # lower, digit, symbol
    ("abcdefgh1", False),     # 2 classes
    ("Ab1-xyz", False),       # 7 characters
    ("ABCDEFGHIJ", False),    # 1 class
])
def test_password_policy(password, ok, db):
    if ok:
        validate_password(password)
    else:
        with pytest.raises(ValidationError):
            validate_password(password)


def test_password_policy_message_names_the_rule(db):
    with pytest.raises(ValidationError) as excinfo:
        validate_password("abcdefgh1")
    assert "至少 3 类" in " ".join(excinfo.value.messages)

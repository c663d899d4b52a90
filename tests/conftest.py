"""Personas, built once per test: the demo organisation plus a second street to be kept out.

``world.users[role]`` holds a persona in 朝农街道 (the demo's street); ``world.other[role]``
the same role in 南浦街道. ``world.units`` maps region codes (and "street/department") to units.
"""

import threading
from dataclasses import dataclass, field

import pytest
from django.core.servers.basehttp import ThreadedWSGIServer
from django.test.testcases import LiveServerThread

from jiedao.accounts.models import User
from jiedao.accounts.roles import Role
from jiedao.accounts.services import membership_grant, user_create
from jiedao.audit.trail import Actor
from jiedao.core.models import OrgUnit
from jiedao.demo.organisation import DEMO_PASSWORD, PERSONAS, load_organisation, load_personas

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

OTHER_STREET = "360103001"  # 南浦街道
OTHER_UNIT_FOR_ROLE = {
    Role.LEADER: OTHER_STREET,
    Role.STAFF: OTHER_STREET,
    Role.COMMUNITY_WORKER: "360103001001",
    Role.GRID_WORKER: "360103001001001",
    Role.PROVIDER: "360103001001",
    Role.DISCIPLINE: OTHER_STREET,
    Role.RESIDENT: "360103001001",
    Role.DISTRICT_VIEWER: "360103",
    Role.DISTRICT_STATISTICIAN: "360103",
    Role.SYSADMIN: OTHER_STREET,
    Role.SECADMIN: OTHER_STREET,
    Role.AUDITOR: OTHER_STREET,
}


class _OneRequestAtATimeOnSharedConnection(ThreadedWSGIServer):
    """The live server, answering one request at a time when it shares the test's connection.

    With SQLite's in-memory test database, Django hands every request thread the test's one
    connection (``connections_override``), and two statements at once on it fail ("bad
    parameter or other API misuse", "database table is locked"). Chromium sends a page's
    requests side by side, so each request, its response body included, holds a lock. The
    connections themselves stay threaded and kept alive; on PostgreSQL nothing is shared and
    nothing waits. tests/test_live_server.py sends requests at once. The test's own thread
    takes the lock too before the database is emptied after the test (``_live_server_idle``):
    a request htmx sent last may still be running.
    """

    lock = threading.Lock()

    def set_app(self, application):
        if not self.connections_override:
            return super().set_app(application)
        lock = self.lock

        def one_at_a_time(environ, start_response):
            with lock:
                response = application(environ, start_response)
                try:
                    return [b"".join(response)]
                finally:
                    if hasattr(response, "close"):
                        response.close()  # request_finished, while the connection is still ours

        return super().set_app(one_at_a_time)


LiveServerThread.server_class = _OneRequestAtATimeOnSharedConnection


@pytest.fixture(autouse=True)
def _live_server_idle(request):
    """After a live-server test, wait for the request in flight (if any) before the database
    is emptied: asked for after the database fixture, this is torn down before it."""
    if "live_server" not in request.fixturenames:
        yield
        return
    request.getfixturevalue("transactional_db")
    yield
    with _OneRequestAtATimeOnSharedConnection.lock:
        pass


@pytest.fixture(scope="session")
def live_server(django_db_setup, live_server):
    """pytest-django's live server, started after the test database exists.

    Started first, it saw the deployment's database name, shared no connection, and each
    request thread opened its own connection to the in-memory database's shared cache, where
    two requests at once fail on SQLite's table locks ("database table is locked").
    """
    return live_server


@dataclass
class World:
    units: dict[str, OrgUnit]
    users: dict[str, User] = field(default_factory=dict)
    other: dict[str, User] = field(default_factory=dict)
    password: str = DEMO_PASSWORD

    @property
    def street(self) -> OrgUnit:
        return self.units["360103012"]

    @property
    def other_street(self) -> OrgUnit:
        return self.units[OTHER_STREET]


@pytest.fixture(autouse=True)
def _fresh_memos():
    """Per-process memos (jiedao/core/recent.py, the search's token shares) must not carry rows
    from one test to the next."""
    from jiedao.cases import search
    from jiedao.core.recent import Recent

    Recent.forget_all()
    search._shares.clear()  # the search's token shares, read from one test's cases
    yield
    Recent.forget_all()
    search._shares.clear()


def reference_data() -> None:
    """Reference rows loaded by data migrations; a live_server or transactional test's flush
    removes them, so they are put back for the tests that follow."""
    from jiedao.cases import catalogue
    from jiedao.cases.models import Category
    from jiedao.records.defaults import load_defaults
    from jiedao.records.models import ActivityType, Indicator

    if not Category.objects.exists():
        catalogue.load(Category)
    if not ActivityType.objects.exists():
        load_defaults(ActivityType, Indicator)


@pytest.fixture
def world(db) -> World:
    reference_data()
    by = Actor.system("test")
    units = load_organisation(by)
    load_personas(by, units)
    w = World(units=units)
    for username, _name, role, _unit in PERSONAS:
        w.users[role] = User.objects.get(username=username)
    for role, code in OTHER_UNIT_FOR_ROLE.items():
        user = user_create(by=by, username=f"other_{role}", password=DEMO_PASSWORD,
                           home_unit=units[code], full_name=f"外街{role}")
        membership_grant(by=by, user=user, unit=units[code], role=role)
        w.other[role] = user
    return w


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": "/usr/bin/chromium",
            "args": CHROMIUM_ARGS}

"""The browser tests' live server and an in-memory SQLite database.

Chromium sends a page's requests side by side (the inbox list and its tab counts, by htmx),
and Django's live server answers each in its own thread. With SQLite's in-memory test
database every thread is handed the test's one connection, and two statements at once on one
connection fail with "bad parameter or other API misuse" (CI, 2026-11-28). conftest.py lets
only one request at a time use that connection; this test sends many at once.
"""

from concurrent.futures import ThreadPoolExecutor
from urllib.request import Request, urlopen

from django.test import Client

from jiedao.accounts.roles import Role


def test_requests_side_by_side_all_succeed(live_server, world):
    client = Client()
    client.force_login(world.users[Role.COMMUNITY_WORKER])
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    paths = ["/cases/tab-counts/", "/cases/?q=%E6%BC%8F%E6%B0%B4", "/cases/?tab=overdue"] * 20

    def fetch(path):
        with urlopen(Request(live_server.url + path, headers={"Cookie": cookie}), timeout=30) as r:
            return r.status, r.geturl()

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(fetch, paths))
    assert results == [(200, live_server.url + p) for p in paths]

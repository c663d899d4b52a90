"""The SQLite writer lock (jiedao/core/writerlock.py): a second writer waits in the kernel until
the first is done, and nesting in one thread does not deadlock."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection

from jiedao.core import walcheckpoint
from jiedao.core.writerlock import writer_lock

pytestmark = pytest.mark.skipif(connection.vendor != "sqlite", reason="a no-op on PostgreSQL")


@pytest.fixture
def checkpoints(monkeypatch) -> list[str]:
    """What the lock asked of the WAL checkpointer (tests/test_walcheckpoint.py tests that)."""
    calls: list[str] = []
    monkeypatch.setattr(walcheckpoint, "defer_checkpoints", lambda: calls.append("defer"))
    monkeypatch.setattr(walcheckpoint, "wrote", lambda alias: calls.append(f"wrote {alias}"))
    return calls


@pytest.fixture
def on_a_file(tmp_path, monkeypatch, checkpoints):
    monkeypatch.setitem(connection.settings_dict, "NAME", str(tmp_path / "jiedao.sqlite3"))
    return tmp_path / "jiedao.sqlite3.writer-lock"


def test_a_second_writer_waits_for_the_first(on_a_file):
    order: list[str] = []
    inside = threading.Event()
    release = threading.Event()

    def first():
        with writer_lock():
            order.append("first in")
            inside.set()
            release.wait(5)
            order.append("first out")

    def second():
        with writer_lock():
            order.append("second in")

    a = threading.Thread(target=first)
    a.start()
    assert inside.wait(5)
    b = threading.Thread(target=second)
    b.start()
    time.sleep(0.2)
    assert order == ["first in"]  # the second is still waiting
    release.set()
    a.join(5)
    b.join(5)
    assert order == ["first in", "first out", "second in"]
    assert on_a_file.exists()


def test_nested_use_in_one_thread_does_not_wait_for_itself(on_a_file, checkpoints):
    with writer_lock(), writer_lock():
        entered = True
    assert entered
    # The outer lock defers SQLite's checkpoints before writing and asks for one after.
    assert checkpoints == ["defer", "wrote default"]

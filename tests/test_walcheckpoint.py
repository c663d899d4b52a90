"""SQLite WAL checkpoints off the writers' path (jiedao/core/walcheckpoint.py): a connection that
writes under the writer lock does not copy the log back inside its commit; the module's thread
does, shortly after."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from django.db import connection, connections

from jiedao.core import walcheckpoint

pytestmark = pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's WAL only")

ALIAS = "walcheck"
PAGE = 4096


@pytest.fixture
def file_db(tmp_path, monkeypatch, django_db_blocker):
    """A database file in WAL mode under its own alias (the test database may live in memory)."""
    path = tmp_path / "wal.sqlite3"
    settings = connections.configure_settings({"default": connections.settings["default"], ALIAS: {
        "ENGINE": "django.db.backends.sqlite3", "NAME": str(path),
        "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL;"}}})[ALIAS]
    monkeypatch.setitem(connections.settings, ALIAS, settings)
    monkeypatch.setattr(walcheckpoint, "INTERVAL", 0.05)
    with django_db_blocker.unblock():  # not the test database: a file of this test's own
        yield connections[ALIAS], path
        connections[ALIAS].close()
    delattr(connections._connections, ALIAS)


def _write_pages(conn, pages: int) -> None:
    with conn.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS filler (data BLOB)")
        cursor.execute("BEGIN")
        for _ in range(pages):
            cursor.execute("INSERT INTO filler VALUES (randomblob(%s))", [PAGE - 100])
        cursor.execute("COMMIT")


def test_a_deferring_writer_leaves_the_checkpoint_to_the_thread(file_db):
    conn, path = file_db
    walcheckpoint.defer_checkpoints(conn)
    with conn.cursor() as cursor:
        cursor.execute("PRAGMA wal_autocheckpoint")
        assert cursor.fetchone()[0] == walcheckpoint.SAFETY_PAGES
    _write_pages(conn, 1500)  # past SQLite's default threshold of 1,000 pages
    # The commit copied nothing back: the pages are in the log, the database file is small.
    assert Path(f"{path}-wal").stat().st_size > 1500 * PAGE
    assert path.stat().st_size < 100 * PAGE

    walcheckpoint.wrote(ALIAS)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and path.stat().st_size < 1500 * PAGE:
        time.sleep(0.05)
    assert path.stat().st_size > 1500 * PAGE  # the thread copied the log into the database file


def test_other_connections_keep_sqlites_default(file_db):
    conn, path = file_db
    _write_pages(conn, 1500)
    assert path.stat().st_size > 1500 * PAGE  # SQLite's own checkpoint ran inside that commit


def test_connections_read_the_database_file_through_mmap(tmp_path, monkeypatch, django_db_blocker):
    """The deployment's connection options (settings.DATABASES) map the database file: reads
    come from the shared page cache (JIEDAO_SQLITE_MMAP_MB, default 2048; SQLite caps it)."""
    from django.conf import settings

    alias = "mmapcheck"
    options = settings.DATABASES["default"]["OPTIONS"]
    configured = connections.configure_settings({"default": connections.settings["default"], alias: {
        "ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "m.sqlite3"),
        "OPTIONS": {"init_command": options["init_command"]}}})[alias]
    monkeypatch.setitem(connections.settings, alias, configured)
    with django_db_blocker.unblock():
        try:
            with connections[alias].cursor() as cursor:
                cursor.execute("PRAGMA mmap_size")
                assert cursor.fetchone()[0] >= 256 * 2**20
        finally:
            connections[alias].close()
            delattr(connections._connections, alias)

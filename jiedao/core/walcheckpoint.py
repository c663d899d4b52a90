"""SQLite's WAL checkpoints moved off the writers' path (SQLite only).

SQLite copies its write-ahead log back into the database file whenever a commit leaves more
than ``wal_autocheckpoint`` pages (default 1,000) in the log — inside that commit. On the
intake path that is inside the one writer's critical section (``writer_lock``): at batches of
eight it was about 2 of a batch's 3 ms of COMMIT, and every page a checkpoint copies is
copied again at the next one if a later batch changed it (index pages that every new case
touches).

So a connection that writes under ``writer_lock`` raises its own threshold to
``SAFETY_PAGES`` (a safety net only), and this module's thread checkpoints at most once per
``INTERVAL`` seconds after such writes, outside any transaction and lock: a PASSIVE
checkpoint waits for no reader or writer, and copies a page changed by many batches once.
Other connections keep SQLite's default.
"""

from __future__ import annotations

import logging
import threading
import time

from django.db import connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper

logger = logging.getLogger(__name__)

INTERVAL = 1.0
SAFETY_PAGES = 20_000  # ≈ 80 MB of log: reached only if the thread below stops checkpointing

_started = threading.Lock()
_wrote: dict[str, threading.Event] = {}  # per database alias; its thread waits on it


def defer_checkpoints(conn: BaseDatabaseWrapper = connection) -> None:
    """Before a write under ``writer_lock``: this connection leaves checkpoints to the thread."""
    conn.ensure_connection()
    raw = conn.connection
    if getattr(conn, "_jiedao_wal_deferred", None) is not raw:
        with conn.cursor() as cursor:
            cursor.execute(f"PRAGMA wal_autocheckpoint={SAFETY_PAGES}")
        conn._jiedao_wal_deferred = raw


def wrote(alias: str = "default") -> None:
    """After such a write: make sure a checkpoint follows within ``INTERVAL`` seconds."""
    event = _wrote.get(alias)
    if event is None:
        with _started:
            event = _wrote.get(alias)
            if event is None:
                event = _wrote[alias] = threading.Event()
                threading.Thread(target=_checkpoints, args=(alias, event), daemon=True,
                                 name=f"wal-checkpoint-{alias}").start()
    event.set()


def _checkpoints(alias: str, wrote: threading.Event) -> None:
    while True:
        wrote.wait()
        time.sleep(INTERVAL)  # gather a second's writes into one checkpoint
        wrote.clear()
        try:
            with connections[alias].cursor() as cursor:
                cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except Exception:  # noqa: BLE001 — the safety net still checkpoints; keep the thread
            logger.exception("WAL checkpoint failed")

"""One writer at a time across the server's processes, queued in the kernel (SQLite only).

SQLite admits one write transaction at a time; a second process that wants to write waits in
SQLite's busy handler, which polls with sleeps of 1, 2, 5, 10, 15, 20, 25 … ms. Under a burst
of intakes each process's group commit would spend much of its time asleep after the lock was
already free. Taking an ``flock`` on a file beside the database first makes the waiting
writer block in the kernel and wake the moment the other one is done. PostgreSQL needs none of
this (row locks queue without polling): there it is a no-op.

Writers under this lock leave SQLite's WAL checkpoints to a thread (``walcheckpoint``), so
that copying the log back into the database happens outside the one writer's turn.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

from jiedao.core import walcheckpoint

_local = threading.local()


@contextmanager
def writer_lock() -> Iterator[None]:
    if connection.vendor != "sqlite" or getattr(_local, "held", False):
        yield
        return
    path = f"{connection.settings_dict['NAME']}.writer-lock"
    if ":memory:" in path or "mode=memory" in path:
        yield  # an in-memory test database has a single process
        return
    walcheckpoint.defer_checkpoints()
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        _local.held = True
        try:
            yield
        finally:
            _local.held = False
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
    walcheckpoint.wrote(connection.alias)

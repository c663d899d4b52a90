"""Processes of ``jiedao serve`` that stop when the process that started them is gone.

``jiedao serve`` becomes granian (``os.execvp``), which starts the web workers; ``serve`` also
starts the task worker. Ctrl-C or a service manager reach them all through their process group,
but when granian's main process alone dies — killed by its PID with SIGKILL, or crashed — its
children would run on, orphaned: the web workers still answering on the port with the old code
beside the next server, the task worker beside the next one's. Each of them watches the PID it
was started under and, once that process is gone (it is re-parented), stops itself as if sent
SIGTERM.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable

POLL_SECONDS = 1.0
SERVER_PID = "JIEDAO_SERVER_PID"  # set by ``serve`` for granian and so for its web workers


def terminate_self() -> None:
    os.kill(os.getpid(), signal.SIGTERM)


def watch_parent(parent: int, on_gone: Callable[[], None] = terminate_self, *,
                 poll: float = POLL_SECONDS) -> threading.Thread:
    """Call ``on_gone`` (by default: SIGTERM to this process) once ``parent`` is no longer this
    process's parent. Given the PID rather than read now: the parent may already be gone by
    the time the child looks, and the child re-parented."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll)
        on_gone()

    thread = threading.Thread(target=watch, name="exit-with-parent", daemon=True)
    thread.start()
    return thread


def exit_with_server() -> threading.Thread | None:
    """In a web worker started by ``jiedao serve`` (granian's main process, whose PID ``serve``
    passed in ``JIEDAO_SERVER_PID``): stop once that process is gone. Elsewhere nothing."""
    pid = os.environ.get(SERVER_PID, "")
    return watch_parent(int(pid)) if pid.isdigit() else None

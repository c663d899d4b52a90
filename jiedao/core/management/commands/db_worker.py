"""``jiedao db_worker``: django-tasks-db's task worker, plus ``--exit-with-parent``.

``jiedao serve`` starts the worker with that option and its own PID, then becomes granian. Ctrl-C or a
service manager reach both through their process group; but when granian alone dies — killed by
its PID, or crashed — the worker would run on, orphaned, beside the next server's worker. With
the option it notices within a second that its parent is gone and stops as if it had been sent
SIGTERM: gracefully, finishing the task it is running. If it was already stopping, it is left
to finish (a second SIGTERM would cut the running task short).
"""

import os
import signal

from django_tasks_db.management.commands.db_worker import Command as TasksDbWorkerCommand

from jiedao.core import parent as parent_process


def watch_parent(parent: int, *, poll: float = parent_process.POLL_SECONDS):
    """Send this process SIGTERM once its parent ``parent`` is gone (it is re-parented)."""

    def stop() -> None:
        # The worker's SIGTERM handler is its bound ``shutdown``; ``running`` is False once a
        # first signal asked it to stop.
        worker = getattr(signal.getsignal(signal.SIGTERM), "__self__", None)
        if getattr(worker, "running", True):
            os.kill(os.getpid(), signal.SIGTERM)

    return parent_process.watch_parent(parent, stop, poll=poll)


class Command(TasksDbWorkerCommand):
    help = "运行后台任务进程(django-tasks-db);--exit-with-parent:父进程退出时随之停止。"

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--exit-with-parent", nargs="?", type=int, const=0, default=None, metavar="PID",
                            help="父进程(默认为启动本进程者;jiedao serve 传入将成为 granian 的进程号)"
                                 "退出后,完成当前任务即停止")

    def handle(self, *args, exit_with_parent: int | None = None, **options):
        if exit_with_parent is not None:
            # The PID given by the starter, not os.getppid() now: on a busy machine the parent
            # may already be gone by the time Django is set up, and the worker re-parented.
            watch_parent(exit_with_parent or os.getppid())
        return super().handle(*args, **options)

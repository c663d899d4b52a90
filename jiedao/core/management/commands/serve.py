"""``jiedao serve``: the WSGI app under granian, static files through whitenoise.

Prints where it listens and the demo logins (when the demo accounts exist), collects static
files when their manifest is missing or older than the sources, starts one background-task
worker (``jiedao db_worker``: imports, outgoing messages) unless told not to, then replaces
itself with granian (``os.execvp``) so that signals from a terminal or a service manager reach
granian. The worker is in the same process group, so Ctrl-C or the service manager stops both;
it is started with ``--exit-with-parent``, and granian's web workers are told granian's PID
(``JIEDAO_SERVER_PID``), so they all stop when granian alone is killed (jiedao/core/parent.py).
"""

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles.finders import get_finders
from django.contrib.staticfiles.storage import ManifestFilesMixin, staticfiles_storage
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connections

from jiedao.core.parent import SERVER_PID

WSGI_APP = "jiedao.wsgi:application"


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise CommandError(f"环境变量 {name}={value!r} 不是整数。") from None


def granian_argv(host: str, port: int, workers: int) -> list[str]:
    return [
        sys.executable, "-m", "granian",
        "--interface", "wsgi",
        "--host", host,
        "--port", str(port),
        "--workers", str(workers),
        # Django views block; a few threads per worker is plenty for an office and keeps
        # SQLite's single writer from being queued by hundreds of threads.
        "--blocking-threads", str(int(os.environ.get("JIEDAO_THREADS", "16"))),
        "--respawn-failed-workers",
        WSGI_APP,
    ]


def task_worker_argv() -> list[str]:
    """The background-task worker ``serve`` starts. This process becomes granian (``execvp``),
    so the worker watches this PID and stops when it is gone."""
    return [sys.executable, "-m", "jiedao", "db_worker", "--no-reload", f"--exit-with-parent={os.getpid()}"]


def url_for(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{shown}:{port}/"


class Command(BaseCommand):
    help = "用 granian 启动 jiedao(WSGI;静态文件由 whitenoise 提供)。"

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("JIEDAO_HOST") or "127.0.0.1",
                            help="监听地址(环境变量 JIEDAO_HOST,默认 127.0.0.1)")
        parser.add_argument("--port", type=int, default=None,
                            help="端口(环境变量 JIEDAO_PORT,默认 8000)")
        parser.add_argument("--workers", type=int, default=None,
                            help="工作进程数(环境变量 JIEDAO_WORKERS,默认 2)")
        parser.add_argument("--no-task-worker", action="store_true",
                            default=os.environ.get("JIEDAO_TASK_WORKER", "1") in ("0", "false", "no"),
                            help="不启动后台任务进程(另行运行 jiedao db_worker 时;"
                                 "环境变量 JIEDAO_TASK_WORKER=0)")

    def handle(self, *args, **options):
        host = options["host"]
        port = options["port"] if options["port"] is not None else _env_int("JIEDAO_PORT", 8000)
        workers = (options["workers"] if options["workers"] is not None
                   else _env_int("JIEDAO_WORKERS", 2))
        if not 0 < port < 65536:
            raise CommandError(f"端口 {port} 无效。")
        if workers < 1:
            raise CommandError("工作进程数至少为 1。")

        self._check_migrations()
        self._collectstatic_if_needed()
        self.stdout.write(self.style.SUCCESS(f"jiedao 已启动: {url_for(host, port)}"))
        self._print_demo_logins()
        if not options["no_task_worker"]:
            subprocess.Popen(task_worker_argv())
            self.stdout.write("后台任务进程已启动(导入、短信/企业微信发送)。")
        connections.close_all()
        sys.stdout.flush()
        sys.stderr.flush()
        argv = granian_argv(host, port, workers)
        # Granian keeps this PID; its web workers stop when it is gone (jiedao/core/parent.py).
        os.environ[SERVER_PID] = str(os.getpid())
        try:
            os.execvp(argv[0], argv)
        except OSError as exc:
            raise CommandError(f"无法启动 granian:{exc}") from exc

    def _check_migrations(self) -> None:
        from django.db.migrations.executor import MigrationExecutor

        try:
            executor = MigrationExecutor(connections["default"])
            plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        except DatabaseError as exc:
            self.stderr.write(self.style.WARNING(f"无法连接数据库:{exc}"))
            return
        if plan:
            self.stderr.write(self.style.WARNING(
                f"有 {len(plan)} 个数据库迁移尚未执行;请先运行 jiedao migrate。"))

    def _collectstatic_if_needed(self) -> None:
        root = Path(settings.STATIC_ROOT)
        if isinstance(staticfiles_storage, ManifestFilesMixin):
            manifest = root / staticfiles_storage.manifest_name
            stale = not manifest.exists() or _newest_source() > manifest.stat().st_mtime
        else:
            stale = not settings.DEBUG and not (root.is_dir() and any(root.iterdir()))
        if stale:
            self.stdout.write(f"正在收集静态文件到 {root} …")
            call_command("collectstatic", interactive=False, verbosity=0)

    def _print_demo_logins(self) -> None:
        from jiedao.accounts.models import User
        from jiedao.accounts.roles import Role
        from jiedao.demo.organisation import DEMO_PASSWORD, PERSONAS

        try:
            present = set(User.objects.filter(username__in=[p[0] for p in PERSONAS])
                          .values_list("username", flat=True))
        except DatabaseError:
            return
        if not present:
            return
        self.stdout.write(f"演示账号(密码均为 {DEMO_PASSWORD}):")
        for username, full_name, role, _unit in PERSONAS:
            if username in present:
                self.stdout.write(f"  {username:<10} {str(Role(role).label):<8} {full_name}")


def _newest_source() -> float:
    newest = 0.0
    for finder in get_finders():
        for path, storage in finder.list(["CVS", ".*", "*~"]):
            try:
                newest = max(newest, os.stat(storage.path(path)).st_mtime)
            except (NotImplementedError, OSError):
                continue
    return newest

"""The operator's commands: backup and restore (both databases), serve, the console script.

The round trip compares every table row by row; on PostgreSQL pg_dump sees only committed
data, hence the transactional tests. Subprocess tests use the deployment settings
(``jiedao.settings``) with a throwaway JIEDAO_VAR_DIR, never the developer's var/.
"""

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from jiedao.accounts.models import Membership
from jiedao.accounts.services import user_create
from jiedao.audit.models import AuditChainHead, AuditEvent
from jiedao.audit.trail import Actor, verify
from jiedao.core import backup as backup_module
from jiedao.core.management.commands.serve import granian_argv, task_worker_argv
from jiedao.core.models import OrgUnit
from jiedao.demo.organisation import DEMO_PASSWORD

BIN = Path(sys.executable).parent
JIEDAO = BIN / "jiedao"
REPO = Path(__file__).resolve().parent.parent
AUDIT_TABLES = {AuditEvent._meta.db_table, AuditChainHead._meta.db_table}


def dump_all() -> dict[str, list[tuple]]:
    """Every row of every table the project's models know, in primary-key order."""
    tables = {}
    for model in apps.get_models(include_auto_created=True):
        if model._meta.proxy or not model._meta.managed:
            continue
        tables[model._meta.db_table] = list(model.objects.order_by("pk").values_list())
    return tables


def subprocess_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The deployment settings on a throwaway var dir (and SQLite file unless overridden)."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"JIEDAO_STATIC_ROOT", "JIEDAO_MEDIA_ROOT", "JIEDAO_SQLITE_PATH"}}
    var = tmp_path / "var"
    env.update(DJANGO_SETTINGS_MODULE="jiedao.settings", JIEDAO_VAR_DIR=str(var),
               JIEDAO_SQLITE_PATH=str(var / "jiedao.sqlite3"), PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def run_jiedao(*args: str, env: dict[str, str], timeout: float = 120):
    return subprocess.run([str(JIEDAO), *args], env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


# --- backup and restore -------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_backup_change_restore_gives_identical_data(world, tmp_path):
    path = tmp_path / "jiedao.backup"
    call_command("backup", str(path))
    assert path.stat().st_size > 0
    assert not list(tmp_path.glob("*.partial"))
    # The backup's own event is inside the backup.
    assert AuditEvent.objects.order_by("-seq").first().event_type == "system.backup"
    before = dump_all()
    assert before[OrgUnit._meta.db_table] and before[Membership._meta.db_table]

    # Insert, update and delete, with audit rows of their own.
    by = Actor.system("test")
    user_create(by=by, username="xinren", password=DEMO_PASSWORD, home_unit=world.street)
    OrgUnit.objects.filter(pk=world.street.pk).update(name="改了名的街道")
    Membership.objects.filter(user=world.other["resident"]).delete()
    changed = dump_all()
    assert changed != before
    assert len(changed[AuditEvent._meta.db_table]) > len(before[AuditEvent._meta.db_table])

    call_command("restore", str(path), interactive=False)
    after = dump_all()

    assert after.keys() == before.keys()
    for table in before.keys() - AUDIT_TABLES:
        assert after[table] == before[table], table
    # The audit trail is the backup's, plus exactly the restore's own event.
    events = after[AuditEvent._meta.db_table]
    assert events[:-1] == before[AuditEvent._meta.db_table]
    last = AuditEvent.objects.order_by("-seq").first()
    assert (last.event_type, last.detail) == ("system.restore", str(path))
    assert AuditChainHead.objects.get().seq == last.seq == len(events)
    result = verify()
    assert result.ok, result.problem
    assert result.checked == len(events)


@pytest.mark.django_db(transaction=True)
def test_audit_table_is_append_only_again_after_restore(world, tmp_path):
    """pg_restore --clean drops the table (no row trigger fires); the guard must come back."""
    path = tmp_path / "jiedao.backup"
    call_command("backup", str(path))
    call_command("restore", str(path), interactive=False)
    count = AuditEvent.objects.count()
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(seq=1).delete()
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(seq=1).update(detail="改过")
    assert AuditEvent.objects.count() == count
    assert verify().ok


def _garbage(path: Path) -> None:
    path.write_bytes("这不是备份\n".encode() * 100)


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _foreign_sqlite(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    db.execute("INSERT INTO notes (body) VALUES ('别人的数据库')")
    db.commit()
    db.close()


def _fake_pgdump(path: Path) -> None:
    path.write_bytes(b"PGDMP" + b"\x00" * 200)


def _ours_sqlite(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE django_migrations (id INTEGER PRIMARY KEY, app TEXT, name TEXT)")
    db.commit()
    db.close()


NOT_A_BACKUP = "不是 jiedao 的备份文件"
# The suite runs on one engine per session (tests/settings.py: DATABASE_URL or SQLite).
VENDOR = "postgresql" if os.environ.get("DATABASE_URL") else "sqlite"
REFUSALS = {
    "sqlite": {
        "garbage": (_garbage, NOT_A_BACKUP),
        "empty": (_empty, NOT_A_BACKUP),
        "foreign-sqlite": (_foreign_sqlite, NOT_A_BACKUP),
        "pg-dump": (_fake_pgdump, "不能互相恢复"),
        "missing": (None, "找不到备份文件"),
    },
    "postgresql": {
        "garbage": (_garbage, NOT_A_BACKUP),
        "empty": (_empty, NOT_A_BACKUP),
        "sqlite-backup": (_ours_sqlite, "不能互相恢复"),
        "broken-pg-dump": (_fake_pgdump, "不是可用的 pg_dump 归档"),
        "missing": (None, "找不到备份文件"),
    },
}[VENDOR]


@pytest.mark.parametrize("kind", REFUSALS)
def test_restore_refuses_what_is_not_a_backup(world, tmp_path, kind):
    assert connection.vendor == VENDOR
    make, expected = REFUSALS[kind]
    path = tmp_path / "suspect.backup"
    if make:
        make(path)
    before = dump_all()
    with pytest.raises(CommandError, match=re.escape(expected)) as excinfo:
        call_command("restore", str(path), interactive=False)
    assert str(excinfo.value).startswith("恢复失败")
    assert dump_all() == before


def test_backup_does_not_overwrite_without_force(world, tmp_path):
    path = tmp_path / "existing.backup"
    path.write_bytes(b"an older backup")
    with pytest.raises(CommandError, match="已存在"):
        call_command("backup", str(path))
    assert path.read_bytes() == b"an older backup"


def test_missing_postgresql_tools_are_reported(world, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setattr(backup_module, "PG_TOOL_DIRS", str(tmp_path / "postgresql"))
    with pytest.raises(backup_module.BackupError, match="找不到 pg_dump"):
        backup_module.find_pg_tool("pg_dump")
    if connection.vendor == "postgresql":
        events = AuditEvent.objects.count()
        with pytest.raises(CommandError, match="找不到 pg_dump"):
            call_command("backup", str(tmp_path / "never.backup"))
        assert not list(tmp_path.glob("never.backup*"))
        assert AuditEvent.objects.count() == events  # refused before anything was recorded


def test_restore_exits_non_zero_from_the_command_line(tmp_path):
    junk = tmp_path / "junk.backup"
    _garbage(junk)
    env = subprocess_env(tmp_path)
    result = run_jiedao("restore", "--noinput", str(junk), env=env)
    assert result.returncode != 0
    assert NOT_A_BACKUP in result.stderr
    result = run_jiedao("restore", "--noinput", str(tmp_path / "nowhere.backup"), env=env)
    assert result.returncode != 0
    assert "找不到备份文件" in result.stderr


# --- the console script and serve ----------------------------------------------------------

def test_console_script_runs_check(tmp_path):
    assert JIEDAO.exists(), "the jiedao console script is not installed (make venv)"
    result = run_jiedao("check", env=subprocess_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout
    # python -m jiedao is the same entry point.
    result = subprocess.run([sys.executable, "-m", "jiedao", "help", "serve"],
                            env=subprocess_env(tmp_path), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "granian" in result.stdout


def test_serve_help_lists_its_options(tmp_path):
    result = run_jiedao("serve", "--help", env=subprocess_env(tmp_path))
    assert result.returncode == 0, result.stderr
    for option in ("--host", "--port", "--workers"):
        assert option in result.stdout


def test_serve_runs_granian_on_the_wsgi_app():
    argv = granian_argv("0.0.0.0", 8123, 3)
    assert argv[:3] == [sys.executable, "-m", "granian"]
    assert argv[argv.index("--interface") + 1] == "wsgi"
    assert argv[argv.index("--port") + 1] == "8123"
    assert argv[argv.index("--workers") + 1] == "3"
    assert argv[-1] == "jiedao.wsgi:application"


def test_a_web_worker_freezes_what_start_up_loaded(tmp_path):
    """``jiedao.wsgi`` (what granian's workers load) hides start-up's objects from the cycle
    collector once the app is up; JIEDAO_GC_FREEZE=0 leaves it alone."""
    code = "import gc, jiedao.wsgi; print(gc.get_freeze_count() > 1000, gc.get_threshold()[0])"

    def worker(**extra: str) -> list[str]:
        result = subprocess.run([sys.executable, "-c", code], env=subprocess_env(tmp_path, **extra),
                                capture_output=True, text=True, timeout=60, cwd=REPO)
        assert result.returncode == 0, result.stderr
        return result.stdout.split()

    assert worker() == ["True", "700"]
    assert worker(JIEDAO_GC_FREEZE="0") == ["False", "700"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def scratch_database(tmp_path):
    """Environment for a subprocess on a database of its own, on the configured engine.

    SQLite: a file in tmp_path. PostgreSQL: a scratch database on the configured server,
    dropped afterwards (the test database itself is in use by this session).
    """
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        env = subprocess_env(tmp_path)
        env.pop("DATABASE_URL", None)
        yield env
        return
    import psycopg

    name = f"jiedao_scratch_{uuid.uuid4().hex[:12]}"
    params = connection.settings_dict
    admin = dict(dbname=params["NAME"], user=params["USER"] or None,
                 password=params["PASSWORD"] or None, host=params["HOST"] or None,
                 port=params["PORT"] or None, autocommit=True)
    with psycopg.connect(**admin) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        scratch_url = urlsplit(url)._replace(path=f"/{name}").geturl()
        yield subprocess_env(tmp_path, DATABASE_URL=scratch_url)
    finally:
        with psycopg.connect(**admin) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except (ProcessLookupError, PermissionError):
        return None


def _alive(pid: int) -> bool:
    """Running (not a zombie: the worker's parent is gone, so init reaps it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def test_a_task_worker_whose_parent_is_gone_before_it_looks_stops(tmp_path):
    """The race the PID argument closes: the parent (granian) died while the worker was still
    starting, so ``os.getppid()`` would already name its new parent."""
    env = {**subprocess_env(tmp_path), "DJANGO_SETTINGS_MODULE": "tests.settings",
           "PYTHONPATH": str(REPO)}
    code = ("import django, time; django.setup()\n"
            "from jiedao.core.management.commands.db_worker import watch_parent\n"
            "watch_parent(2 ** 22 + 1, poll=0.05)  # no such process: never this one's parent\n"
            "time.sleep(30)\n")
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, timeout=60,
                            capture_output=True, text=True)
    assert result.returncode == -signal.SIGTERM, result.stderr
    assert time.monotonic() - started < 20


def test_the_task_worker_watches_the_pid_it_is_given(monkeypatch):
    """``serve`` passes its own PID (it becomes granian); without one the worker's parent."""
    from django_tasks_db.management.commands.db_worker import Command as TasksDbWorkerCommand

    from jiedao.core.management.commands import db_worker

    watched: list[int] = []
    monkeypatch.setattr(db_worker, "watch_parent", watched.append)
    monkeypatch.setattr(TasksDbWorkerCommand, "handle", lambda self, *args, **options: None)
    db_worker.Command().handle(exit_with_parent=4321)
    db_worker.Command().handle(exit_with_parent=0)
    db_worker.Command().handle()
    assert watched == [4321, os.getppid()]
    assert f"--exit-with-parent={os.getpid()}" in task_worker_argv()


def test_serve_really_serves_pages_and_static_files(scratch_database, tmp_path):
    env = scratch_database
    # Schema and demo data with the test settings: the same tables, but the fast password
    # hasher (the deployment's PBKDF2 costs ~8 s for the eleven demo accounts). The server
    # itself runs on the deployment settings, manifest static storage included.
    setup_env = {**env, "DJANGO_SETTINGS_MODULE": "tests.settings",
                 "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))}
    for args in (("migrate", "--noinput", "-v", "0"), ("demo",)):
        result = run_jiedao(*args, env=setup_env, timeout=180)
        assert result.returncode == 0, result.stderr
    port = _free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen([str(JIEDAO), "serve", "--port", str(port)], env=env,
                                stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        status, body = None, ""
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status, body = _get(f"{base}/accounts/login/")
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                status = None
            if status is not None:
                break
            time.sleep(0.2)
        output = log.read_text()
        assert status == 200, f"login page: {status}\n{output[-3000:]}"
        assert "登录" in body
        assert f"jiedao 已启动: http://127.0.0.1:{port}/" in output
        assert "lingdao" in output and DEMO_PASSWORD in output  # the demo accounts exist
        assert "后台任务进程已启动" in output
        group = [pid for pid in os.listdir("/proc") if pid.isdigit() and pid != str(proc.pid)
                 and _pgid(int(pid)) == proc.pid]
        commands = [Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ") for pid in group]
        assert any(b"db_worker" in command for command in commands), commands
        css = re.findall(r'href="(/static/[^"]+\.css)"', body)
        assert css, "the login page references no stylesheet"
        manifest = Path(env["JIEDAO_VAR_DIR"]) / "static" / "staticfiles.json"
        assert manifest.exists(), "serve did not run collectstatic"
        for url in [*css, "/static/admin/css/base.css"]:
            status, text = _get(base + url)
            assert status == 200, url
            assert "{" in text, url
        # granian alone killed by its PID (no signal to the group, no chance to clean up): its
        # web workers and the task worker notice and stop.
        web_workers = [int(pid) for pid, command in zip(group, commands, strict=True)
                       if b"granian" in command]
        assert len(web_workers) == 2, commands  # JIEDAO_WORKERS' default
        children = [int(pid) for pid in group]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=15)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(_alive(pid) for pid in children):
            time.sleep(0.1)
        left = [command for pid, command in zip(children, commands, strict=True) if _alive(pid)]
        assert not left, f"outlived granian: {left}"
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            _get(f"{base}/healthz")
    finally:
        try:  # the whole group, granian gone or not
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)

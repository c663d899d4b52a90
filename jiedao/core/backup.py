"""Backing up and restoring the whole database: ``jiedao backup PATH`` / ``jiedao restore PATH``.

SQLite: SQLite's online backup API, page by page, from Django's own connection to the live
database (so it also works for the in-memory test database) into PATH, and back. The backup
API replaces the destination's pages wholesale, so the append-only triggers on the audit table
never see a DELETE.

PostgreSQL: ``pg_dump -Fc`` into PATH and ``pg_restore --clean --if-exists --no-owner`` in a
single transaction. ``--clean`` drops and recreates the tables; DROP TABLE fires no row or
TRUNCATE triggers, so the audit guard does not stand in the way (tests/test_cli.py checks it
and that the triggers are back afterwards). The password goes through PGPASSWORD, never argv.

Backup writes a ``system.backup`` audit event *before* copying, so the file holds its own
event; restore writes ``system.restore`` *after*, onto the restored chain.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"
MARKER_TABLE = "django_migrations"
SQLITE_PAGES_PER_STEP = 256
PG_TOOL_DIRS = "/usr/lib/postgresql"

Say = Callable[[str], None]


class BackupError(Exception):
    """A backup or restore that cannot go ahead; the message is for the operator."""


@dataclass
class Summary:
    path: Path
    size: int
    tables: int
    vendor: str

    def describe(self, verb: str) -> str:
        kind = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}.get(self.vendor, self.vendor)
        return (f"{verb}完成:{self.path}({human_size(self.size)},"
                f"{self.tables} 张表,{kind})")


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _quiet(message: str) -> None:
    pass


def _progress_bar(**kwargs):
    """A tqdm bar on stderr, silent when stderr is not a terminal."""
    from tqdm import tqdm

    return tqdm(file=sys.stderr, disable=None, leave=False, dynamic_ncols=True, **kwargs)


def _connection(using: str):
    connection = connections[using]
    if connection.vendor not in ("sqlite", "postgresql"):
        raise BackupError(f"不支持备份 {connection.vendor} 数据库(只支持 SQLite 与 PostgreSQL)。")
    return connection


def _audit(event_type: str, path: Path, *, success: bool = True, detail: str = "") -> None:
    from jiedao.audit.trail import Actor, record

    label = event_type.split(".", 1)[1]
    record(by=Actor.system(label), event_type=event_type, success=success,
           detail=detail or str(path))


# --- entry points ------------------------------------------------------------------------

def backup(path: str | os.PathLike, *, using: str = DEFAULT_DB_ALIAS, force: bool = False,
           say: Say = _quiet) -> Summary:
    """Copy the live database into ``path`` (a new file; ``force`` allows replacing one)."""
    connection = _connection(using)
    path = Path(path).expanduser().absolute()
    if path.is_dir():
        raise BackupError(f"{path} 是一个目录;请给出备份文件的完整路径。")
    if path.exists() and not force:
        raise BackupError(f"{path} 已存在;换一个文件名,或加 --force 覆盖。")
    if not path.parent.is_dir():
        raise BackupError(f"目录 {path.parent} 不存在。")
    if connection.vendor == "postgresql":
        pg_dump = find_pg_tool("pg_dump")  # before the audit event: nothing happens without it
    try:
        _audit("system.backup", path)
    except DatabaseError as exc:
        raise BackupError(f"无法写入数据库(备份前的审计事件):{exc}") from exc
    partial = path.with_name(path.name + ".partial")
    try:
        if connection.vendor == "sqlite":
            _sqlite_backup(connection, partial, say)
        else:
            _pg_backup(connection, pg_dump, partial, say)
        os.replace(partial, path)
    except BaseException as exc:
        partial.unlink(missing_ok=True)
        if isinstance(exc, Exception):
            try:
                _audit("system.backup", path, success=False, detail=f"{path}:{exc}")
            except DatabaseError:
                pass  # the original failure is the one to report
        raise
    return inspect(path, connection.vendor)


def restore(path: str | os.PathLike, *, using: str = DEFAULT_DB_ALIAS,
            say: Say = _quiet) -> Summary:
    """Replace the live database with the backup in ``path``."""
    connection = _connection(using)
    path = Path(path).expanduser().absolute()
    summary = inspect(path, connection.vendor)  # refuses anything that is not our backup
    if connection.in_atomic_block:
        raise BackupError("不能在事务中恢复数据库。")
    if connection.vendor == "sqlite":
        _sqlite_restore(connection, path, say)
    else:
        _pg_restore(connection, path, say)
    try:
        _audit("system.restore", path)
    except DatabaseError as exc:
        raise BackupError(
            f"数据已从 {path} 恢复,但写入审计事件失败:{exc}。"
            "备份可能来自较旧的版本,请先运行 jiedao migrate。"
        ) from exc
    return summary


def inspect(path: Path, vendor: str) -> Summary:
    """Check that ``path`` is a jiedao backup for ``vendor``; describe it."""
    if not path.exists():
        raise BackupError(f"找不到备份文件 {path}。")
    if not path.is_file():
        raise BackupError(f"{path} 不是文件。")
    with path.open("rb") as fh:
        head = fh.read(len(SQLITE_MAGIC))
    if head.startswith(PGDUMP_MAGIC):
        found = "postgresql"
    elif head == SQLITE_MAGIC:
        found = "sqlite"
    else:
        raise BackupError(
            f"{path} 不是 jiedao 的备份文件(既不是 SQLite 数据库,也不是 pg_dump 归档)。"
        )
    if found != vendor:
        names = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
        raise BackupError(
            f"{path} 是 {names[found]} 的备份,而当前数据库是 {names[vendor]};不能互相恢复。"
        )
    tables = _sqlite_tables(path) if vendor == "sqlite" else _pg_tables(path)
    if MARKER_TABLE not in tables:
        raise BackupError(f"{path} 里没有 {MARKER_TABLE} 表,不是 jiedao 的备份文件。")
    return Summary(path=path, size=path.stat().st_size, tables=len(tables), vendor=vendor)


# --- SQLite ------------------------------------------------------------------------------

def _sqlite_progress(action: str):
    bar = None

    def update(status: int, remaining: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = _progress_bar(total=total, unit="页", desc=action)
        bar.total = total
        bar.n = total - remaining
        bar.refresh()

    def close() -> None:
        if bar is not None:
            bar.close()

    return update, close


def _sqlite_backup(connection, target: Path, say: Say) -> None:
    connection.ensure_connection()
    source = connection.connection
    say("正在用 SQLite 在线备份复制数据库 …")
    dest = sqlite3.connect(target)
    update, close = _sqlite_progress("备份")
    try:
        source.backup(dest, pages=SQLITE_PAGES_PER_STEP, progress=update)
        # A self-contained file: no -wal/-shm companions when it is copied elsewhere.
        dest.execute("PRAGMA journal_mode=DELETE")
    except sqlite3.Error as exc:
        raise BackupError(f"SQLite 备份失败:{exc}") from exc
    finally:
        close()
        dest.close()


def _sqlite_open(path: Path) -> sqlite3.Connection:
    try:
        return sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True)
    except sqlite3.Error:
        return sqlite3.connect(path)


def _sqlite_tables(path: Path) -> set[str]:
    try:
        db = _sqlite_open(path)
        try:
            rows = db.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
            ).fetchall()
            (check,) = db.execute("PRAGMA quick_check").fetchone()
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise BackupError(f"{path} 无法作为 SQLite 数据库打开:{exc}") from exc
    if check != "ok":
        raise BackupError(f"{path} 已损坏(SQLite quick_check:{check})。")
    return {name for (name,) in rows}


def _sqlite_restore(connection, path: Path, say: Say) -> None:
    connection.ensure_connection()
    dest = connection.connection
    say(f"正在用 SQLite 在线备份把 {path} 写回数据库 …")
    update, close = _sqlite_progress("恢复")
    try:
        source = _sqlite_open(path)
        try:
            source.backup(dest, pages=SQLITE_PAGES_PER_STEP, progress=update)
        finally:
            source.close()
    except sqlite3.Error as exc:
        raise BackupError(f"SQLite 恢复失败:{exc}") from exc
    finally:
        close()


# --- PostgreSQL --------------------------------------------------------------------------

def find_pg_tool(name: str) -> str:
    """``name`` from PATH, else from the newest /usr/lib/postgresql/*/bin."""
    if found := shutil.which(name):
        return found
    base = Path(PG_TOOL_DIRS)
    versions = sorted(
        (p for p in base.glob(f"*/bin/{name}") if p.parent.parent.name.isdigit()),
        key=lambda p: int(p.parent.parent.name),
    ) if base.is_dir() else []
    if versions:
        return str(versions[-1])
    raise BackupError(
        f"找不到 {name}。请安装 PostgreSQL 客户端(Debian:apt-get install postgresql-client),"
        f"或把 {name} 所在目录加入 PATH。"
    )


_PG_ENV_OPTIONS = {
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "options": "PGOPTIONS",
    "application_name": "PGAPPNAME",
}


def _pg_args(connection) -> tuple[list[str], dict[str, str]]:
    """Connection arguments for pg_dump/pg_restore and their environment (password in it)."""
    params = connection.settings_dict
    args = ["--no-password"]
    if params.get("HOST"):
        args += ["--host", str(params["HOST"])]
    if params.get("PORT"):
        args += ["--port", str(params["PORT"])]
    if params.get("USER"):
        args += ["--username", str(params["USER"])]
    args += ["--dbname", str(params["NAME"])]
    env = dict(os.environ)
    if params.get("PASSWORD"):
        env["PGPASSWORD"] = str(params["PASSWORD"])
    for key, var in _PG_ENV_OPTIONS.items():
        if (value := (params.get("OPTIONS") or {}).get(key)) not in (None, ""):
            env[var] = str(value)
    return args, env


def _run_pg(cmd: list[str], env: dict[str, str], action: str, say: Say) -> None:
    """Run a pg tool in verbose mode; its messages drive an indeterminate progress bar."""
    say(f"正在{action}:{Path(cmd[0]).name} …")
    tail: deque[str] = deque(maxlen=12)
    try:
        proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True, errors="replace")
    except OSError as exc:
        raise BackupError(f"无法运行 {cmd[0]}:{exc}") from exc
    with _progress_bar(total=None, unit="项", desc=action) as bar:
        for line in proc.stderr:
            line = line.rstrip()
            tail.append(line)
            bar.update(1)
            bar.set_postfix_str(line[-60:], refresh=False)
    if proc.wait() != 0:
        errors = [line for line in tail if "error" in line.lower() or "错误" in line]
        detail = "\n".join(errors or list(tail)[-5:])
        raise BackupError(f"{Path(cmd[0]).name} 失败(退出码 {proc.returncode}):\n{detail}")


def _pg_backup(connection, pg_dump: str, target: Path, say: Say) -> None:
    args, env = _pg_args(connection)
    _run_pg([pg_dump, "--format=custom", "--verbose", "--file", str(target), *args],
            env, "导出 PostgreSQL 数据库", say)


_TABLE_ENTRY = re.compile(r"^\d+; \d+ \d+ TABLE (\S+) (\S+) ")


def _pg_tables(path: Path) -> set[str]:
    pg_restore = find_pg_tool("pg_restore")
    result = subprocess.run([pg_restore, "--list", str(path)], capture_output=True, text=True,
                            errors="replace", stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise BackupError(f"{path} 不是可用的 pg_dump 归档:{result.stderr.strip()}")
    return {m.group(2) for line in result.stdout.splitlines()
            if (m := _TABLE_ENTRY.match(line))}


def _pg_restore(connection, path: Path, say: Say) -> None:
    pg_restore = find_pg_tool("pg_restore")
    args, env = _pg_args(connection)
    connection.close()  # our own session must not hold locks on the tables being dropped
    _run_pg([pg_restore, "--clean", "--if-exists", "--no-owner", "--single-transaction",
             "--exit-on-error", "--verbose", *args, str(path)],
            env, "恢复 PostgreSQL 数据库", say)

"""The database a benchmark measures: a temporary SQLite file unless DATABASE_URL is set.

    from benchdb import setup_django
    tmp = setup_django()          # migrate; returns the temp dir to remove (None on PostgreSQL)

and what machine the figures come from (``machine()``).
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_django(sqlite_path: str | None = None) -> str | None:
    """Point Django at the database to measure and migrate it.

    ``sqlite_path``: a file to fill once and reuse; otherwise a fresh temporary directory is
    made (returned, for the caller to remove) — unless ``DATABASE_URL`` names PostgreSQL.
    """
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "jiedao.settings"
    os.environ.setdefault("JIEDAO_LOG_LEVEL", "WARNING")
    tmp = None
    if sqlite_path:
        os.environ["JIEDAO_SQLITE_PATH"] = sqlite_path
    elif not os.environ.get("DATABASE_URL"):
        tmp = tempfile.mkdtemp(prefix="jiedao-bench-")
        os.environ["JIEDAO_VAR_DIR"] = tmp
        os.environ["JIEDAO_SQLITE_PATH"] = str(Path(tmp) / "bench.sqlite3")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return tmp


def machine() -> str:
    """The processor, its cores, Python, and how long this Python takes for a plain loop of ten
    million additions: machines of the same name here have differed fourfold in speed, and
    figures are comparable only beside this."""
    model = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    started = time.perf_counter()
    total = 0
    for i in range(10_000_000):
        total += i
    loop = time.perf_counter() - started
    return (f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}; "
            f"10 M additions in a Python loop: {loop:.2f} s")

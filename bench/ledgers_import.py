"""Import 100,000 resident rows with full validation, next to what openpyxl alone needs to read them.

    .venv/bin/python bench/ledgers_import.py                 # SQLite in a temporary directory
    .venv/bin/python bench/ledgers_import.py --rows 20000    # quicker look
    DATABASE_URL=postgres://…/scratch .venv/bin/python bench/ledgers_import.py

Writes an .xlsx like an office's own 花名册 (a merged title row, then the header; names, ID
numbers as text, mobile numbers, addresses, 1–2 population groups, a community or grid name)
with openpyxl, then measures, each on the same file:

1. openpyxl ``load_workbook(read_only=True)`` iterating every row's values — the floor the
   brief compares against;
2. jiedao's own reader (jiedao.ledgers.xlsx.read_rows) alone;
3. the end-to-end import, exactly as ``jiedao import residents FILE`` runs it: read, header
   match, every cell parsed and validated (GB 11643 check digit, birth date, province; mobile;
   choices; unit lookup), duplicate keys in the file, natural keys matched against the
   database, then inserted in batches of 2,000 (``engine.raw_insert``: INSERT … RETURNING, new
   ids paired by ID number) with their group rows and one audit event per batch, all in one
   transaction;
4. the same file imported again (all 100,000 matched and unchanged: nothing written).

Prints a Markdown table: wall-clock seconds and rows/s, and the process's CPU seconds for each
step (the machines are shared: CPU time is the steadier figure), with the load average.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from benchdb import setup_django

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


GROUPS = ["在职人群", "青少年", "困难群众", "80岁以上户籍老人", "青少年、困难群众", "残疾人、困难群众"]
UNITS = ["兰宫路社区", "十里江山社区", "泰江来社区", "兰宫路社区第一网格", "十里江山社区第二网格"]
SURNAMES = "张王李赵刘陈杨黄周吴徐孙胡朱高林何郭马罗"


def make_file(path: Path, rows: int) -> None:
    import datetime as dt

    from openpyxl import Workbook
    from stdnum.cn import ric

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("服务对象")
    sheet.append(["朝农街道服务对象花名册(基准测试,全部为虚构数据)"])
    sheet.append(["姓名", "公民身份号码", "手机号", "住址", "人群类别", "所属单位", "备注"])
    start = dt.date(1930, 1, 1)
    for i in range(rows):
        # 7 is coprime to 30000, so birth dates cycle every 30000 rows; the sequence code shifts
        # by 250 each cycle, keeping (birth date, sequence) unique up to 120,000 rows
        birth = start + dt.timedelta(days=(i * 7) % 30000)
        base = f"360103{birth:%Y%m%d}{(i + i // 30000 * 250) % 1000:03d}"
        id_number = base + ric.calc_check_digit(base + "0")
        sheet.append(
            [
                f"演示{SURNAMES[i % 20]}{i}",
                id_number,
                f"13{i % 7 + 3}{i:08d}"[:11],
                f"朝农街道灌婴路 {i % 500 + 1}号",
                GROUPS[i % len(GROUPS)],
                UNITS[i % len(UNITS)],
                "",
            ]
        )
    workbook.save(path)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    tmp = setup_django()
    from jiedao.audit.models import AuditEvent
    from jiedao.audit.trail import Actor
    from jiedao.demo.organisation import load_organisation
    from jiedao.ledgers.importer import import_file
    from jiedao.ledgers.models import Resident, ResidentGroup
    from jiedao.ledgers.xlsx import read_rows

    by = Actor.system("bench")
    units = load_organisation(by)
    street = units["360103012"]
    if Resident.objects.exists():
        sys.exit("the database already holds residents: give the bench a scratch database")

    path = Path(tmp or tempfile.gettempdir()) / f"residents-{args.rows}.xlsx"
    t = time.perf_counter()
    make_file(path, args.rows)
    make_s = time.perf_counter() - t
    data = path.read_bytes()

    from openpyxl import load_workbook

    load_start = os.getloadavg()[0]

    def timed(step):
        wall, cpu = time.perf_counter(), time.process_time()
        out = step()
        return out, time.perf_counter() - wall, time.process_time() - cpu

    def openpyxl_read():
        workbook = load_workbook(path, read_only=True, data_only=True)
        n = sum(1 for _ in workbook.worksheets[0].iter_rows(values_only=True))
        workbook.close()
        return n

    n_openpyxl, openpyxl_s, openpyxl_cpu = timed(openpyxl_read)
    n_reader, reader_s, reader_cpu = timed(lambda: sum(1 for _ in read_rows(data)))
    assert n_reader == n_openpyxl == args.rows + 2, (n_reader, n_openpyxl)

    (result, counts), import_s, import_cpu = timed(
        lambda: import_file("residents", data, unit=street, by=by, filename=path.name)
    )
    assert counts is not None, result.errors[:5]
    assert counts["created"] == args.rows == Resident.objects.count()
    batches = AuditEvent.objects.filter(event_type="ledgers.resident_import_batch").count()

    (result, again), again_s, again_cpu = timed(
        lambda: import_file("residents", data, unit=street, by=by, filename=path.name)
    )
    assert again["unchanged"] == args.rows and Resident.objects.count() == args.rows

    from django.db import connection

    vendor = connection.vendor
    print(
        f"### {args.rows:,} resident rows — {vendor}, file {len(data) / 1048576:.1f} MB "
        f"(written by openpyxl in {make_s:.1f} s)\n"
    )
    table = [
        ("openpyxl read-only, values of every row (nothing else)", openpyxl_s, openpyxl_cpu),
        ("jiedao reader alone (`xlsx.read_rows`)", reader_s, reader_cpu),
        ("**import end to end** (read + validate + match + write + audit)", import_s, import_cpu),
        ("same file again (all matched, unchanged, nothing written)", again_s, again_cpu),
    ]
    print("| step | seconds | rows/s | CPU seconds |")
    print("|---|---:|---:|---:|")
    for label, seconds, cpu in table:
        print(f"| {label} | {seconds:.1f} | {args.rows / seconds:,.0f} | {cpu:.1f} |")
    residents, groups = Resident.objects.count(), ResidentGroup.objects.count()
    print(f"\nRows written: {residents:,} residents, {groups:,} group rows; "
          f"audit events for the import: {batches} batch events + 1 summary.")
    load = os.getloadavg()[0]
    print(f"1-minute load average at the start: {load_start:.1f}, at the end: {load:.1f}")
    if tmp:  # the temporary SQLite database and the generated file
        import shutil

        connection.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

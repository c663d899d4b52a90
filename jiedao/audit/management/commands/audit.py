"""``jiedao audit verify`` and ``jiedao audit export PATH [--from DATE] [--to DATE]``.

``verify`` walks the whole hash chain and exits 0 when it is intact, 1 (with the first bad
row on stderr) when it is not — fit for a nightly cron job. It only reads, so it can also be
pointed at a restored backup. ``export`` writes the same workbook as the auditor's page;
like that page, it leaves an ``audit.export`` event.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import date

from django.core.management.base import BaseCommand
from tqdm import tqdm

from jiedao.audit import trail
from jiedao.audit.export import EXPORT_LIMIT, write_events_xlsx
from jiedao.audit.models import AuditEvent
from jiedao.audit.selectors import EventFilter
from jiedao.audit.trail import Actor, record


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"日期“{value}”格式不对,应为 YYYY-MM-DD") from None


class Command(BaseCommand):
    help = "审计链:verify 校验完整性(完整时退出码 0,否则 1);export 导出为 .xlsx。"

    def add_arguments(self, parser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="{verify,export}")
        check = actions.add_parser("verify", help="逐条校验审计链的序号和哈希")
        check.add_argument("--batch", type=int, default=5000, help="每次读取的条数")
        out = actions.add_parser("export", help="导出审计日志为 .xlsx")
        out.add_argument("path", help="输出文件,如 audit.xlsx")
        out.add_argument("--from", dest="date_from", type=_date, help="起始日期(含),YYYY-MM-DD")
        out.add_argument("--to", dest="date_to", type=_date, help="截止日期(含),YYYY-MM-DD")
        out.add_argument("--limit", type=int, default=EXPORT_LIMIT,
                         help=f"最多导出条数(默认 {EXPORT_LIMIT},取最新的)")

    def handle(self, *args, **options) -> None:
        if options["action"] == "verify":
            self.verify(batch=options["batch"])
        else:
            self.export(options["path"], options["date_from"], options["date_to"],
                        options["limit"])

    def verify(self, *, batch: int) -> None:
        bar = None
        if self.stdout.isatty():
            # Drawn on the command's stderr stream, so stdout keeps only the verdict.
            bar = tqdm(total=AuditEvent.objects.count(), unit="条", desc="校验审计链",
                       file=getattr(self.stderr, "_out", sys.stderr), leave=False,
                       dynamic_ncols=True, mininterval=0)  # updates come once a batch
        try:
            result = trail.verify(progress=bar.update if bar else None, batch=batch)
        finally:
            if bar is not None:
                bar.close()
        if result.ok:
            self.stdout.write(self.style.SUCCESS(f"审计链完整:共 {result.checked} 条"))
            return
        self.stderr.write(self.style.ERROR(
            f"审计链校验未通过:{result.problem}(第 {result.seq} 条;"
            f"此前 {result.checked} 条完好)"
        ))
        sys.exit(1)

    def export(self, path: str, date_from: date | None, date_to: date | None,
               limit: int) -> None:
        if date_from and date_to and date_from > date_to:
            self.stderr.write(self.style.ERROR("截止日期不能早于起始日期"))
            sys.exit(2)
        event_filter = EventFilter(date_from=date_from, date_to=date_to)
        description = event_filter.describe()
        by = Actor.system(f"cli:{_os_user()}")
        result = write_events_xlsx(event_filter.apply(AuditEvent.objects.all()), path,
                                   description=description, exported_by=by.display,
                                   limit=limit)
        detail = f"命令行导出;筛选条件:{description};导出 {result.rows} 条"
        if result.truncated:
            detail += f"(符合条件 {result.total} 条,超出上限)"
        record(by=by, event_type="audit.export", detail=detail)
        self.stdout.write(self.style.SUCCESS(f"已导出 {result.rows} 条到 {path}"))
        if result.truncated:
            self.stderr.write(self.style.WARNING(
                f"符合条件的有 {result.total} 条,超过上限 {limit} 条,只导出了最新的 "
                f"{result.rows} 条;请用 --from/--to 分批导出。"
            ))


def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return "unknown"

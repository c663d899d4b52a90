"""``jiedao import LEDGER FILE``: check a whole .xlsx file, then write it all or nothing.

Exit status 1 with every row error printed when the file is refused. Integrity archives are
not importable from the command line (they are the discipline role's alone; see the README).
"""

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from jiedao.accounts.roles import Cap
from jiedao.audit.trail import Actor
from jiedao.ledgers.cli import resolve_unit, resolve_user
from jiedao.ledgers.importer import estimate_rows, import_file
from jiedao.ledgers.specs import LEDGERS


class Command(BaseCommand):
    help = "导入台账 Excel 文件:先校验全部行,有任何错误则不导入并列出错误(退出码 1);重复导入不产生重复数据。"

    def add_arguments(self, parser):
        parser.add_argument("ledger", choices=sorted(LEDGERS))
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--unit", default="360103012", help="导入到的单位区划代码(默认 360103012 朝农街道)"
        )
        parser.add_argument("--as", dest="username", help="以该用户身份导入(按其权限范围校验,审计记为该用户)")
        parser.add_argument("--no-progress", action="store_true", help="不显示进度条")

    def handle(self, *args, ledger, file, unit, username, no_progress, **options):
        if not file.is_file():
            raise CommandError(f"文件不存在:{file}")
        data = file.read_bytes()
        target = resolve_unit(unit)
        user = resolve_user(username, target, Cap.BUSINESS_WRITE)
        by = Actor(user=user, label=username or "cli") if user else Actor.system("cli")
        show = not no_progress and sys.stderr.isatty()
        check_bar = tqdm(total=estimate_rows(data) or None, desc="校验", unit="行", disable=not show)
        write_bar = tqdm(total=None, desc="写入", unit="行", disable=not show)

        def on_check(done, total):
            check_bar.update(done - check_bar.n)

        def on_write(done, total):
            write_bar.total = total
            write_bar.update(done - write_bar.n)

        result, counts = import_file(
            ledger,
            data,
            unit=target,
            by=by,
            user=user,
            filename=file.name,
            progress=on_check,
            write_progress=on_write,
        )
        check_bar.close()
        write_bar.close()
        if counts is None:
            self.stderr.write(f"导入被拒绝:发现 {len(result.errors)} 处问题,未导入任何数据。")
            self.stderr.write("行号\t列\t值\t原因")
            for error in result.errors:
                self.stderr.write(f"{error.row or '-'}\t{error.column}\t{error.value}\t{error.reason}")
            sys.exit(1)
        self.stdout.write(
            self.style.SUCCESS(
                f"导入完成:共 {counts['total']} 行,新增 {counts['created']},更新 {counts['updated']},"
                f"未变 {counts['unchanged']}"
            )
        )

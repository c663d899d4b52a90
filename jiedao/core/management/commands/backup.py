from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS

from jiedao.core import backup


class Command(BaseCommand):
    help = (
        "把整个数据库备份到一个文件:SQLite 用在线备份(可在系统运行时进行),"
        "PostgreSQL 用 pg_dump -Fc。备份前写一条 system.backup 审计事件,备份文件中包含它。"
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="备份文件路径(新文件)")
        parser.add_argument("--force", action="store_true", help="覆盖已存在的文件")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, help="数据库别名")

    def handle(self, *args, **options):
        self.verbosity = options["verbosity"]
        try:
            summary = backup.backup(options["path"], using=options["database"],
                                    force=options["force"], say=self._say)
        except backup.BackupError as exc:
            raise CommandError(f"备份失败:{exc}") from exc
        self.stdout.write(self.style.SUCCESS(summary.describe("备份")))

    def _say(self, message: str) -> None:
        if self.verbosity >= 1:
            self.stderr.write(message, style_func=lambda text: text)

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections

from jiedao.core import backup


class Command(BaseCommand):
    help = (
        "用备份文件替换整个数据库(jiedao backup 生成的文件)。当前数据全部被备份中的数据取代;"
        "恢复后写一条 system.restore 审计事件。"
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="jiedao backup 生成的备份文件")
        parser.add_argument("--noinput", "--no-input", action="store_false", dest="interactive",
                            help="不询问确认")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, help="数据库别名")

    def handle(self, *args, **options):
        self.verbosity = options["verbosity"]
        connection = connections[options["database"]]
        try:
            summary = backup.inspect(Path(options["path"]).expanduser().absolute(),
                                     connection.vendor)
        except backup.BackupError as exc:
            raise CommandError(f"恢复失败:{exc}") from exc
        if options["interactive"] and sys.stdin.isatty():
            answer = input(
                f"将用 {summary.path} 替换数据库 {connection.settings_dict['NAME']} 中的全部数据,"
                "当前数据会丢失。输入 yes 继续:"
            )
            if answer.strip().lower() != "yes":
                raise CommandError("已取消,数据库未改动。")
        try:
            summary = backup.restore(summary.path, using=options["database"], say=self._say)
        except backup.BackupError as exc:
            raise CommandError(f"恢复失败:{exc}") from exc
        self.stdout.write(self.style.SUCCESS(summary.describe("恢复")))

    def _say(self, message: str) -> None:
        if self.verbosity >= 1:
            self.stderr.write(message, style_func=lambda text: text)

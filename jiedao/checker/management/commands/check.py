"""``jiedao check FILE [--json]``: check a work summary; exit code 1 when there are findings.

Without a document argument it is still Django's system check (``jiedao check``,
``jiedao check --deploy``): a .docx/.txt/.md path, or "-" for standard input, selects the
report checker.

The lexicon is the database's (all units) unless ``--no-lexicon``; ``--lexicon FILE`` adds a
word list. ``--docx OUT`` writes the annotated document. Comparing figures with jiedao's own
records (``--street``/``--year``) arrives with the figure registry.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from django.core.management.base import CommandError
from django.core.management.commands.check import Command as SystemCheckCommand
from django.db import DatabaseError

from jiedao.checker.documents import DocumentError, annotate_docx, read_upload
from jiedao.checker.engine import check_paragraphs
from jiedao.checker.lexicon import EMPTY, Lexicon, Word

DOCUMENT_SUFFIXES = {".docx", ".txt", ".md"}


def is_document(arg: str) -> bool:
    return arg == "-" or Path(arg).suffix.lower() in DOCUMENT_SUFFIXES or Path(arg).is_file()


class Command(SystemCheckCommand):
    help = ("校对一篇工作总结(.docx/.txt/.md):分项合计、完成进度、受理办结、敏感词与编辑标记,"
            "有问题时退出码为 1;不带文件时为 Django 的系统检查。")

    def add_arguments(self, parser):
        super().add_arguments(parser)  # app labels, --tag, --deploy … of the system check
        parser.add_argument("--json", action="store_true", help="以 JSON 输出(含 findings 列表)")
        parser.add_argument("--docx", metavar="OUT", help="把批注版 .docx 写到此路径")
        parser.add_argument("--lexicon", metavar="WORDS", help="另加一个词表文件(每行一词)")
        parser.add_argument("--no-lexicon", action="store_true", help="不使用数据库中的敏感词库")

    def handle(self, *args, **options):
        if len(args) == 1 and is_document(args[0]):
            return self.check_document(args[0], options)
        return super().handle(*args, **options)

    def check_document(self, path: str, options) -> None:
        if path == "-":
            name, data = "stdin.txt", sys.stdin.buffer.read()
        else:
            file = Path(path)
            if not file.is_file():
                raise CommandError(f"找不到文件:{path}")
            name, data = file.name, file.read_bytes()
        try:
            source = read_upload(name, data)
        except DocumentError as error:
            raise CommandError(str(error)) from None
        lexicon = self._lexicon(options)
        report = check_paragraphs(source.paragraphs, lexicon=lexicon)
        if options["docx"]:
            Path(options["docx"]).write_bytes(
                annotate_docx(source.data if source.kind == "docx" else None, source.paragraphs,
                              report.findings))
        if options["json"]:
            self.stdout.write(json.dumps({"file": name, **report.as_dict()}, ensure_ascii=False, indent=2))
        else:
            for f in report.findings:
                line = (f"第{f.paragraph + 1}段 {f.start}-{f.end} [{f.severity_label}·{f.kind_label}] "
                        f"“{f.quote}” {f.message}")
                if f.arithmetic:
                    line += f"  {f.arithmetic}"
                self.stdout.write(line)
            self.stdout.write(f"共 {len(report.findings)} 处问题;核对无误的计算 {len(report.confirmed)} 处。")
        if report.findings:
            sys.exit(1)

    def _lexicon(self, options) -> Lexicon:
        words: list[Word] = []
        if not options["no_lexicon"]:
            from jiedao.checker.services import lexicon_for

            try:
                words.extend(lexicon_for(None).words)
            except DatabaseError:
                self.stderr.write("未能读取数据库中的敏感词库,仅检查内置的编辑标记与过滤提示。")
        if options["lexicon"]:
            file = Path(options["lexicon"])
            if not file.is_file():
                raise CommandError(f"找不到词表:{file}")
            from jiedao.checker.documents import decode_text

            lines = decode_text(file.read_bytes()).splitlines()
            words.extend(Word(line.split("\t")[0].strip()) for line in lines if line.strip())
        return Lexicon(words) if words else EMPTY

"""``jiedao export LEDGER FILE``: the ledger's active records as .xlsx, personal values masked."""

from pathlib import Path

from django.core.management.base import BaseCommand

from jiedao.audit.trail import Actor, record
from jiedao.ledgers import engine
from jiedao.ledgers.cli import resolve_unit
from jiedao.ledgers.selectors import QUERIES
from jiedao.ledgers.specs import LEDGERS, get_spec


class Command(BaseCommand):
    help = "导出台账为 Excel(姓名、身份号码、手机号脱敏)。"

    def add_arguments(self, parser):
        parser.add_argument("ledger", choices=sorted(LEDGERS))
        parser.add_argument("file", type=Path)
        parser.add_argument("--unit", help="只导出该单位(区划代码)及其下级的记录")

    def handle(self, *args, ledger, file, unit, **options):
        spec = get_spec(ledger)
        qs = QUERIES[ledger].model.objects.filter(archived_at__isnull=True)
        target = None
        if unit:
            target = resolve_unit(unit)
            qs = qs.filter(org_unit__path__startswith=target.path)
        count = qs.count()
        file.write_bytes(engine.export(spec, qs.order_by("pk")))
        record(
            by=Actor.system("cli"),
            event_type=f"{spec.event_prefix}_export",
            target_type=spec.model._meta.label_lower,
            org_unit=target,
            changes={"count": count, "file": file.name},
        )
        self.stdout.write(self.style.SUCCESS(f"已导出 {count} 条到 {file}"))

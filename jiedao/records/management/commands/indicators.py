"""``jiedao indicators --year Y --month M [--json] [--district CODE]``: the monthly 通报.

Per indicator and street of the district: annual target, cumulative actual, progress %,
year-on-year growth % and rank, computed exactly as on the indicator page.
"""

import json

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from jiedao.core.models import OrgUnit, OrgUnitKind
from jiedao.records import indicators as ind


def _fmt(value) -> str:
    return "—" if value is None else format(value.normalize(), "f")


def _pct(value) -> str:
    return "—" if value is None else f"{value:.2f}%"


class Command(BaseCommand):
    help = "输出经济指标月度通报:各街道的年度目标、累计完成、完成进度、同比增长和全区排名。"

    def add_arguments(self, parser):
        parser.add_argument("--year", type=int, required=True, help="年度,如 2021")
        parser.add_argument("--month", type=int, required=True, help="截至月份 1–12(1-N月累计)")
        parser.add_argument("--district", default="", help="区的区划代码;只有一个区时可省略")
        parser.add_argument("--json", action="store_true", help="以 JSON 输出(对象列表)")

    def handle(self, *args, year, month, district, json: bool, **options):
        if not 1 <= month <= 12:
            raise CommandError(_("--month 应为 1 到 12"))
        districts = OrgUnit.objects.filter(kind=OrgUnitKind.DISTRICT, is_active=True)
        if district:
            districts = districts.filter(code=district)
        districts = list(districts.order_by("code"))
        if not districts:
            raise CommandError(_("找不到区“%(d)s”") % {"d": district} if district
                               else _("还没有区一级单位"))
        rows = [row for d in districts for row in ind.bulletin(d, year, month)]
        if json:
            self.stdout.write(_dumps([row.as_json() for row in rows]))
            return
        for d in districts:
            self.stdout.write(_("%(d)s 经济指标通报 %(y)d年1-%(m)d月")
                              % {"d": d.name, "y": year, "m": month})
        current = None
        for row in rows:
            if row.indicator.pk != current:
                current = row.indicator.pk
                self.stdout.write("")
                self.stdout.write(f"{row.indicator.name}({row.indicator.unit},"
                                  f"{ind.period_label(row.indicator, month)})")
                self.stdout.write(f"  {_('排名'):<6}{_('街道'):<10}{_('年度目标'):>12}"
                                  f"{_('累计完成'):>12}{_('完成进度'):>10}{_('同比增长'):>10}")
            rank = _("第%(n)d") % {"n": row.rank} if row.rank else _("未排名")
            self.stdout.write(f"  {rank:<6}{row.street.name:<10}{_fmt(row.target):>12}"
                              f"{_fmt(row.actual):>12}{_pct(row.progress):>10}"
                              f"{_pct(row.yoy):>10}")


def _dumps(data) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2)

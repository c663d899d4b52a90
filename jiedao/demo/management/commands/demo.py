from importlib import import_module

from django.core.management.base import BaseCommand

from jiedao.audit.trail import Actor
from jiedao.demo.organisation import DEMO_PASSWORD, load_organisation, load_personas

# Each business app loads its own sample through ``jiedao.<app>.demo.load(by, units)``;
# ledgers first, since cases and work records refer to residents and enterprises.
DEMO_APPS = ("ledgers", "cases", "records", "checker")


class Command(BaseCommand):
    help = (
        "载入演示数据:西湖区、朝农街道及其社区、网格、科室,每个角色一个演示账号,"
        "以及工单、台账、工作记录样例(可重复运行)。"
    )

    def handle(self, *args, **options):
        by = Actor.system("演示数据")
        units = load_organisation(by)
        personas = load_personas(by, units)
        self.stdout.write(self.style.SUCCESS(f"演示组织:{len(units)} 个单位"))
        for app in DEMO_APPS:
            for line in import_module(f"jiedao.{app}.demo").load(by, units):
                self.stdout.write(line)
        self.stdout.write(f"演示账号(密码均为 {DEMO_PASSWORD}):")
        for username, role, unit in personas:
            self.stdout.write(f"  {username:<10} {role:<8} {unit}")

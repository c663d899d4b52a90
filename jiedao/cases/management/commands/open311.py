"""``jiedao open311``: api keys of the outside systems that file requests through Open311."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from jiedao.audit.trail import Actor
from jiedao.cases import open311
from jiedao.cases.models import Open311Client
from jiedao.core.models import OrgUnit, OrgUnitKind


class Command(BaseCommand):
    help = ("Open311 接入系统的 api_key:key NAME [--street 街道区划代码] 签发(只显示一次),"
            "list 列出,revoke NAME 吊销。")

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        key = sub.add_parser("key", help="为接入系统签发 api_key(只显示这一次)")
        key.add_argument("name", help="接入系统名称,如 12345热线平台")
        key.add_argument("--street", default="", help="只允许向这个街道(9 位区划代码)提交")
        sub.add_parser("list", help="列出接入系统")
        revoke = sub.add_parser("revoke", help="吊销接入系统的 api_key")
        revoke.add_argument("name")

    def handle(self, *args, action, **options):
        by = Actor.system("cli")
        if action == "key":
            street = None
            if options["street"]:
                street = OrgUnit.objects.filter(kind=OrgUnitKind.STREET, code=options["street"],
                                                is_active=True).first()
                if street is None:
                    raise CommandError(f"没有区划代码为 {options['street']} 的街道")
            try:
                _client, plain = open311.issue_key(by, options["name"], street)
            except ValidationError as exc:
                raise CommandError(" ".join(exc.messages)) from None
            self.stdout.write(plain)
            self.stderr.write("api_key 只显示这一次,请妥善交给对方系统的管理员。")
        elif action == "list":
            for client in Open311Client.objects.select_related("street").order_by("name"):
                state = "已吊销" if client.revoked_at else "有效"
                street = client.street.name if client.street else "全部街道"
                self.stdout.write(f"{client.key_prefix}  {client.name}  {street}  {state}  "
                                  f"{client.created_at:%Y-%m-%d}")
        else:
            client = Open311Client.objects.filter(name=options["name"], revoked_at__isnull=True).first()
            if client is None:
                raise CommandError(f"没有名为 {options['name']} 的有效接入系统")
            open311.revoke_key(by, client)
            self.stdout.write(f"已吊销 {client.name}")

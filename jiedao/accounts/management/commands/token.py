from django.core.management.base import BaseCommand, CommandError

from jiedao.accounts import tokens
from jiedao.accounts.models import ApiToken, User
from jiedao.audit.trail import Actor


class Command(BaseCommand):
    help = "API 令牌:issue USERNAME NAME 签发(只显示一次),list 列出,revoke PREFIX 吊销。"

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        issue = sub.add_parser("issue")
        issue.add_argument("username")
        issue.add_argument("name")
        sub.add_parser("list")
        revoke = sub.add_parser("revoke")
        revoke.add_argument("prefix")

    def handle(self, *args, action, **options):
        by = Actor.system("cli")
        if action == "issue":
            user = User.objects.filter(username=options["username"], is_active=True).first()
            if user is None:
                raise CommandError(f"没有启用中的账号 {options['username']}")
            _row, plain = tokens.issue(by, user, options["name"])
            self.stdout.write(plain)
            self.stderr.write("令牌只显示这一次,请妥善保存。")
        elif action == "list":
            for row in ApiToken.objects.select_related("user").order_by("created_at"):
                state = "已吊销" if row.revoked_at else "有效"
                self.stdout.write(f"{row.prefix}  {row.user.username:<12} {row.name}  {state}")
        else:
            row = ApiToken.objects.filter(prefix=options["prefix"], revoked_at__isnull=True).first()
            if row is None:
                raise CommandError(f"没有前缀为 {options['prefix']} 的有效令牌")
            tokens.revoke(by, row)
            self.stdout.write(f"已吊销 {row}")

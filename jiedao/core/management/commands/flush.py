"""``flush`` that respects the append-only audit table.

Django's test runner flushes the database after each transactional test; the audit guard
would (rightly) refuse. Only when JIEDAO_ALLOW_AUDIT_PURGE is on — the test settings, never a
deployment — is the guard lifted for the flush and put back straight after.
"""

from django.conf import settings
from django.core.management.base import CommandError
from django.core.management.commands.flush import Command as FlushCommand
from django.db import DEFAULT_DB_ALIAS, connections

from jiedao.audit import appendonly


class Command(FlushCommand):
    def handle(self, **options):
        if not settings.JIEDAO_ALLOW_AUDIT_PURGE:
            raise CommandError(
                "审计日志只能追加,不能清空;flush 仅在测试环境(JIEDAO_ALLOW_AUDIT_PURGE=1)中可用。"
            )
        connection = connections[options.get("database") or DEFAULT_DB_ALIAS]
        appendonly.remove(connection)
        try:
            return super().handle(**options)
        finally:
            appendonly.install(connection)

from django.core.management.base import BaseCommand
from django.db.models import Count
from django.utils import timezone

from jiedao.cases import messaging
from jiedao.cases.models import OutboundMessage, OutboundStatus
from jiedao.core.masking import mask_phone


class Command(BaseCommand):
    help = ("外发消息(短信/企业微信):列出待发送和发送失败的消息;"
            "--retry 立即补发到期的待发消息并重试失败的消息。")

    def add_arguments(self, parser):
        parser.add_argument("--retry", action="store_true",
                            help="补发到期的待发消息,并重新尝试发送失败的消息")
        parser.add_argument("--limit", type=int, default=50, help="最多列出多少条(默认 50)")

    def handle(self, *args, retry=False, limit=50, **options):
        now = timezone.now()
        if retry:
            swept = messaging.send_due(now=now)
            failed = list(OutboundMessage.objects.filter(status=OutboundStatus.FAILED).order_by("pk"))
            results: dict[str, int] = {}
            for message in failed:
                status = messaging.retry(message, now=now)
                results[status] = results.get(status, 0) + 1
            self.stdout.write(f"到期待发:{_counts(swept)};失败重试:{_counts(results)}")
        totals = dict(OutboundMessage.objects.values_list("status").annotate(n=Count("pk")))
        self.stdout.write("共计:" + ",".join(
            f"{OutboundStatus(s).label} {totals.get(s, 0)}" for s in OutboundStatus.values))
        rows = OutboundMessage.objects.exclude(status=OutboundStatus.SENT) \
            .order_by("status", "next_attempt_at")
        for m in rows[:limit]:
            recipient = mask_phone(m.recipient) if m.channel == messaging.SMS else m.recipient
            channel = messaging.CHANNEL_LABELS.get(m.channel, m.channel)
            self.stdout.write(
                f"#{m.pk} {OutboundStatus(m.status).label} {channel} "
                f"{recipient} 尝试{m.attempts}次 下次 {timezone.localtime(m.next_attempt_at):%Y-%m-%d %H:%M} "
                f"{m.last_error}".rstrip())


def _counts(counts: dict[str, int]) -> str:
    if not counts:
        return "无"
    labels = {s.value: s.label for s in OutboundStatus}
    return ",".join(f"{labels.get(k, k)} {v}" for k, v in sorted(counts.items()))

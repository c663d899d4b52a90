"""外发消息 (staff page): the SMS / 企业微信 messages that failed or still wait, with a retry button.

A message is shown to whoever can see its case (``permissions.visible``); the phone number is
masked like everywhere else. Retrying needs the dispatcher's right on the case and is audited.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from jiedao.accounts.access import has_cap
from jiedao.accounts.roles import Cap
from jiedao.audit.trail import Actor, atomic, record
from jiedao.core.masking import mask_phone

from . import messaging, permissions
from .models import OutboundMessage, OutboundStatus

PAGE_SIZE = 50
TABS = (OutboundStatus.FAILED, OutboundStatus.PENDING, OutboundStatus.SENT)


def _visible(user):
    if not has_cap(user, Cap.BUSINESS_READ):
        raise Http404
    return OutboundMessage.objects.filter(case__in=permissions.visible(user).values("pk"))


@login_required
def outbox_list(request):
    qs = _visible(request.user)
    status = request.GET.get("status") or OutboundStatus.FAILED
    if status not in TABS:
        status = OutboundStatus.FAILED
    counts = dict(qs.values_list("status").annotate(n=Count("pk")))
    rows = qs.filter(status=status).select_related("case").order_by("-created_at", "-pk")
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    for m in page.object_list:
        m.shown_recipient = mask_phone(m.recipient) if m.channel == messaging.SMS else m.recipient
        m.channel_label = messaging.CHANNEL_LABELS.get(m.channel, m.channel)
        m.can_retry = m.status == OutboundStatus.FAILED and permissions.is_dispatcher(request.user, m.case)
    return render(request, "cases/outbox.html", {
        "nav_current": "cases", "page": page, "status": status,
        "tabs": [(s, OutboundStatus(s).label, counts.get(s, 0)) for s in TABS],
        "max_attempts": messaging.max_attempts(),
    })


@require_POST
@login_required
def outbox_retry(request, pk: int):
    message = _visible(request.user).select_related("case").filter(pk=pk).first()
    if message is None or not permissions.is_dispatcher(request.user, message.case):
        raise Http404
    with atomic():
        record(by=Actor.of(request), event_type="cases.outbox_retry", target=message,
               target_label=f"{message.channel} #{message.pk}", org_unit=message.case.org_unit,
               changes={"attempts": message.attempts, "last_error": message.last_error})
    status = messaging.retry(message)
    if status == OutboundStatus.SENT:
        messages.success(request, _("消息 #%(n)s 已重新发送成功") % {"n": message.pk})
    else:
        message.refresh_from_db()
        messages.error(request, _("消息 #%(n)s 仍未发送成功:%(e)s(将按退避间隔自动重试)")
                       % {"n": message.pk, "e": message.last_error})
    return redirect(f"{reverse('outbox:list')}?status={OutboundStatus.FAILED}")

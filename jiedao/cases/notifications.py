"""Who is told of which step (in-app inbox and SMS/企业微信 queue).

``on_event`` runs inside the step's transaction: the inbox rows and the queued outbound
messages commit or roll back with the step. Sending happens after commit (``messaging``).
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from .models import Action, Case, CaseEvent, Notification

# Which steps concern whom.
TO_HANDLER = {Action.DISPATCH, Action.REDISPATCH, Action.SUPERVISE, Action.REOPEN,
              Action.EXTEND_APPROVE, Action.EXTEND_REJECT, Action.REVIEW}
TO_OWNER = {Action.ASSIGN_OWNER, Action.SUPERVISE, Action.RETURN, Action.EXTEND_REQUEST,
            Action.RESOLVE, Action.REVIEW}
TO_REQUESTER = {Action.CREATE, Action.ACCEPT, Action.CLAIM, Action.RESOLVE, Action.CLOSE}


def text_for(case: Case, event: CaseEvent) -> str:
    return _("工单 %(c)s「%(t)s」:%(a)s") % {"c": case.tracking_code, "t": case.title[:30],
                                           "a": event.get_action_display()}


def on_event(case: Case, event: CaseEvent) -> None:
    text = text_for(case, event)
    users = set()
    if event.action in TO_HANDLER and case.handler_id:
        users.add(case.handler_id)
    if event.action in TO_OWNER and case.owner_id:
        users.add(case.owner_id)
    if event.action in TO_REQUESTER and case.requester_user_id:
        users.add(case.requester_user_id)
    users.discard(event.actor_id)
    Notification.objects.bulk_create(
        Notification(user_id=user_id, case=case, event=event, text=text, created_at=event.at)
        for user_id in sorted(users)
    )

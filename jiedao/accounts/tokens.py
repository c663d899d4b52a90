"""API tokens: issue (shown once), check (by SHA-256 digest), revoke — all audited."""

from __future__ import annotations

import copy
import hashlib
import secrets

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from jiedao.audit.trail import Actor, atomic, record
from jiedao.core.recent import Recent

from .access import grants
from .models import ApiToken, Membership, User


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(by: Actor, user: User, name: str) -> tuple[ApiToken, str]:
    """Create a token for ``user``; return the row and the plain token (never stored)."""
    plain = "jd_" + secrets.token_urlsafe(32)
    with atomic():
        row = ApiToken.objects.create(user=user, name=name, prefix=plain[3:11], digest=digest(plain))
        record(by=by, event_type="api_token.issue", target=row, org_unit=user.home_unit,
               changes={"user": user.username, "name": name})
    return row, plain


def revoke(by: Actor, token: ApiToken) -> None:
    with atomic():
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        record(by=by, event_type="api_token.revoke", target=token, org_unit=token.user.home_unit)


# Every API request reads its token and user: kept for a few seconds per process. A revoked
# token, a deactivated user or a changed membership takes effect at once in this process and
# within MEMO_SECONDS in the others.
MEMO_SECONDS = 10
_tokens: Recent[str, ApiToken | None] = Recent(MEMO_SECONDS)


@receiver([post_save, post_delete], sender=ApiToken)
@receiver([post_save, post_delete], sender=User)
@receiver([post_save, post_delete], sender=Membership)
def _forget(**kwargs) -> None:
    _tokens.forget()


def user_for(plain: str) -> User | None:
    """The active user behind a token, or None; marks the token used (at most once a minute).

    Each request gets its own copy of the user (with its grants looked up once per memo)."""
    if not plain:
        return None
    key = digest(plain)
    row = _tokens.get(key, lambda: (
        ApiToken.objects.select_related("user")
        .filter(digest=key, revoked_at__isnull=True, user__is_active=True)
        .first()
    ))
    if row is None:
        return None
    now = timezone.now()
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
        row.last_used_at = now
    grants(row.user)  # looked up once, shared by the copies
    return copy.copy(row.user)

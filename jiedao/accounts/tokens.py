"""API tokens: issue (shown once), check (by SHA-256 digest), revoke — all audited."""

from __future__ import annotations

import hashlib
import secrets

from django.utils import timezone

from jiedao.audit.trail import Actor, atomic, record

from .models import ApiToken, User


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


def user_for(plain: str) -> User | None:
    """The active user behind a token, or None; marks the token used (at most once a minute)."""
    if not plain:
        return None
    row = (
        ApiToken.objects.select_related("user")
        .filter(digest=digest(plain), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if row is None:
        return None
    now = timezone.now()
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
    return row.user

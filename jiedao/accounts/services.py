"""Every change to accounts and memberships: keyword-only, audited, one transaction."""

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from jiedao.audit.trail import Actor, atomic_service, record
from jiedao.core.identifiers import normalize_mobile
from jiedao.core.models import OrgUnit

from .access import forget
from .models import Membership, User
from .roles import ROLE_UNIT_KINDS, Role


@atomic_service
def user_create(
    *,
    by: Actor,
    username: str,
    password: str,
    home_unit: OrgUnit | None,
    full_name: str = "",
    phone: str = "",
) -> User:
    if User.objects.filter(username=username).exists():
        raise ValidationError({"username": _("用户名“%(u)s”已被使用") % {"u": username}})
    user = User(username=username, full_name=full_name, phone=normalize_mobile(phone),
                home_unit=home_unit)
    validate_password(password, user)
    user.set_password(password)
    user.full_clean(exclude=["password"])
    user.save()
    record(by=by, event_type="accounts.user_create", target=user, org_unit=home_unit,
           changes={"username": [None, username], "full_name": [None, full_name],
                    "home_unit": [None, home_unit.pk if home_unit else None]})
    return user


@atomic_service
def user_set_password(*, by: Actor, user: User, password: str) -> None:
    validate_password(password, user)
    user.set_password(password)
    user.save(update_fields=["password"])
    record(by=by, event_type="accounts.password_set", target=user, org_unit=user.home_unit)


@atomic_service
def user_set_active(*, by: Actor, user: User, active: bool) -> None:
    if by.user is not None and by.user.pk == user.pk and not active:
        raise ValidationError(_("不能停用自己的账号"))
    old = user.is_active
    user.is_active = active
    user.save(update_fields=["is_active"])
    record(by=by, event_type="accounts.user_activate" if active else "accounts.user_deactivate",
           target=user, org_unit=user.home_unit, changes={"is_active": [old, active]})


@atomic_service
def user_unlock(*, by: Actor, user: User) -> None:
    old = user.locked_until
    user.locked_until = None
    user.failed_logins = 0
    user.save(update_fields=["locked_until", "failed_logins"])
    record(by=by, event_type="accounts.user_unlock", target=user, org_unit=user.home_unit,
           changes={"locked_until": [old, None]})


@atomic_service
def membership_grant(*, by: Actor, user: User, unit: OrgUnit, role: str) -> Membership:
    if role not in Role.values:
        raise ValidationError({"role": _("未知角色“%(r)s”") % {"r": role}})
    if unit.kind not in ROLE_UNIT_KINDS[role]:
        raise ValidationError(
            {"unit": _("%(role)s 不能授在%(kind)s上")
             % {"role": Role(role).label, "kind": unit.get_kind_display()}}
        )
    if by.user is not None and by.user.pk == user.pk:
        raise ValidationError(_("不能给自己授权"))
    membership, created = Membership.objects.get_or_create(user=user, unit=unit, role=role)
    if created:
        record(by=by, event_type="accounts.membership_grant", target=membership, org_unit=unit,
               changes={"user": [None, user.pk], "unit": [None, unit.pk], "role": [None, role]})
    forget(user)
    return membership


@atomic_service
def membership_revoke(*, by: Actor, membership: Membership) -> None:
    if by.user is not None and by.user.pk == membership.user_id:
        raise ValidationError(_("不能撤销自己的授权"))
    record(by=by, event_type="accounts.membership_revoke", target=membership,
           org_unit=membership.unit,
           changes={"user": [membership.user_id, None], "unit": [membership.unit_id, None],
                    "role": [membership.role, None]})
    membership.delete()
    forget(membership.user)

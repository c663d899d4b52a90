"""账号管理 (Cap.USERS) and 角色授权 (Cap.ROLES).

Views only fetch through the access layer, validate a form and call a service; the services
hold the rules (password policy, where a role may be held, no self-grants) and write the audit
row. Anything missing or out of scope is a 404.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from jiedao.audit.trail import Actor
from jiedao.core.masking import mask_name, mask_phone

from . import services
from .access import access_user_by_id, get_scoped_or_404, require_cap, scoped, units_in_scope
from .forms import MembershipGrantForm, PasswordForm, UserCreateForm
from .models import Membership, User
from .roles import Cap, Role

PAGE_SIZE = 50

def _add_service_errors(form: forms.Form, error: ValidationError, field: str | None) -> None:
    """Put a service's ValidationError on the form: per field when it names fields it has."""
    if hasattr(error, "error_dict"):
        for name, errors in error.error_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(field, error)


def _safe_next(request, fallback: str) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return fallback


# --- 账号管理 ------------------------------------------------------------------------------

STATUS_FILTERS = [
    ("", gettext_lazy("全部")),
    ("active", gettext_lazy("正常")),
    ("locked", gettext_lazy("已锁定")),
    ("inactive", gettext_lazy("已停用")),
]


def user_status(account: User, now=None) -> tuple[str, str]:
    """(code, label) for the status column: 已停用 wins over a lock, a lock over 正常."""
    now = now or timezone.now()
    if not account.is_active:
        return "inactive", _("已停用")
    if account.locked_until is not None and account.locked_until > now:
        until = timezone.localtime(account.locked_until)
        fmt = "%H:%M" if until.date() == timezone.localtime(now).date() else "%m-%d %H:%M"
        return "locked", _("已锁定至 %(t)s") % {"t": until.strftime(fmt)}
    return "active", _("正常")


@login_required
def user_list(request):
    require_cap(request.user, Cap.USERS)
    now = timezone.now()
    accounts = scoped(User.objects.select_related("home_unit"), request.user, Cap.USERS,
                      field="home_unit")
    q = request.GET.get("q", "").strip()[:100]
    status = request.GET.get("status", "")
    if q:
        accounts = accounts.filter(Q(username__icontains=q) | Q(full_name__icontains=q))
    if status == "active":
        accounts = accounts.filter(is_active=True).exclude(locked_until__gt=now)
    elif status == "locked":
        accounts = accounts.filter(is_active=True, locked_until__gt=now)
    elif status == "inactive":
        accounts = accounts.filter(is_active=False)
    page = Paginator(accounts.order_by("username"), PAGE_SIZE).get_page(request.GET.get("page"))
    rows = []
    for account in page:
        code, label = user_status(account, now)
        rows.append({"account": account, "name": mask_name(account.full_name),
                     "status": code, "status_label": label})
    context = {"rows": rows, "page": page, "q": q, "status": status,
               "status_filters": STATUS_FILTERS, "nav_current": "users"}
    # A search typed into the filter bar swaps only the table.
    partial = request.htmx and not request.htmx.history_restore_request
    template = "accounts/user_list.html#user_table" if partial else "accounts/user_list.html"
    return render(request, template, context)


@sensitive_post_parameters("password", "password2")
@login_required
def user_create(request):
    require_cap(request.user, Cap.USERS)
    form = UserCreateForm(request.POST or None, units=units_in_scope(request.user, Cap.USERS))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            account = services.user_create(
                by=Actor.of(request), username=data["username"], password=data["password"],
                home_unit=data["home_unit"], full_name=data["full_name"], phone=data["phone"],
            )
        except ValidationError as error:
            # The service's bare errors come from the password policy.
            _add_service_errors(form, error, "password")
        else:
            messages.success(request, _("已创建账号“%(u)s”。") % {"u": account.username})
            return redirect("accounts:user_detail", pk=account.pk)
    return render(request, "accounts/user_form.html", {"form": form, "nav_current": "users"})


def _render_user_detail(request, account: User, password_form: PasswordForm, status: int = 200):
    code, label = user_status(account)
    return render(request, "accounts/user_detail.html", {
        "account": account,
        "masked_name": mask_name(account.full_name),
        "masked_phone": mask_phone(account.phone),
        "status": code,
        "status_label": label,
        "memberships": account.memberships.select_related("unit").order_by("unit__path", "role"),
        "password_form": password_form,
        "nav_current": "users",
    }, status=status)


@login_required
def user_detail(request, pk: int):
    account = access_user_by_id(request.user, pk)
    return _render_user_detail(request, account, PasswordForm())


@require_POST
@login_required
def user_unlock(request, pk: int):
    account = access_user_by_id(request.user, pk)
    services.user_unlock(by=Actor.of(request), user=account)
    messages.success(request, _("已解锁账号“%(u)s”。") % {"u": account.username})
    return redirect("accounts:user_detail", pk=account.pk)


@require_POST
@login_required
def user_set_active(request, pk: int):
    account = access_user_by_id(request.user, pk)
    active = request.POST.get("active")
    if active not in ("0", "1"):
        return HttpResponseBadRequest(_("参数错误"))
    try:
        services.user_set_active(by=Actor.of(request), user=account, active=active == "1")
    except ValidationError as error:
        messages.error(request, ";".join(error.messages))
    else:
        text = _("已启用账号“%(u)s”。") if active == "1" else _("已停用账号“%(u)s”。")
        messages.success(request, text % {"u": account.username})
    return redirect("accounts:user_detail", pk=account.pk)


@sensitive_post_parameters("password", "password2")
@require_POST
@login_required
def user_password(request, pk: int):
    account = access_user_by_id(request.user, pk)
    form = PasswordForm(request.POST)
    if form.is_valid():
        try:
            services.user_set_password(by=Actor.of(request), user=account,
                                       password=form.cleaned_data["password"])
        except ValidationError as error:
            _add_service_errors(form, error, "password")
        else:
            messages.success(request, _("已为“%(u)s”设置新密码。") % {"u": account.username})
            return redirect("accounts:user_detail", pk=account.pk)
    return _render_user_detail(request, account, form)


# --- 角色授权 ------------------------------------------------------------------------------


def _render_memberships(request, grant_form: MembershipGrantForm):
    memberships = scoped(
        Membership.objects.select_related("user", "unit"), request.user, Cap.ROLES, field="unit"
    )
    units = units_in_scope(request.user, Cap.ROLES)
    role = request.GET.get("role", "")
    if role in Role.values:
        memberships = memberships.filter(role=role)
    else:
        role = ""
    unit_id = request.GET.get("unit", "")
    selected_unit = units.filter(pk=unit_id).first() if unit_id.isdigit() else None
    if selected_unit is not None:  # a unit stands for its subtree, like every scope
        memberships = memberships.filter(unit__path__startswith=selected_unit.path)
    page = Paginator(
        memberships.order_by("unit__path", "role", "user__username"), PAGE_SIZE
    ).get_page(request.GET.get("page"))
    rows = [{"m": m, "name": mask_name(m.user.full_name)} for m in page]
    list_url = reverse("accounts:membership_list")
    if request.method == "GET" and request.GET:
        list_url += "?" + request.GET.urlencode()
    return render(request, "accounts/membership_list.html", {
        "rows": rows,
        "list_url": list_url,
        "page": page,
        "units": units,
        "roles": Role.choices,
        "role": role,
        "selected_unit": selected_unit,
        "grant_form": grant_form,
        "nav_current": "memberships",
    })


@login_required
def membership_list(request):
    require_cap(request.user, Cap.ROLES)
    return _render_memberships(request, MembershipGrantForm(actor=request.user))


@require_POST
@login_required
def membership_grant(request):
    require_cap(request.user, Cap.ROLES)
    form = MembershipGrantForm(request.POST, actor=request.user)
    if form.is_valid():
        data = form.cleaned_data
        existed = Membership.objects.filter(
            user=data["user"], unit=data["unit"], role=data["role"]
        ).exists()
        try:
            services.membership_grant(by=Actor.of(request), user=data["user"],
                                      unit=data["unit"], role=data["role"])
        except ValidationError as error:
            _add_service_errors(form, error, None)
        else:
            values = {"u": data["user"].username, "unit": data["unit"].name,
                      "role": Role(data["role"]).label}
            if existed:
                messages.info(request, _("“%(u)s”在%(unit)s已有“%(role)s”角色。") % values)
            else:
                messages.success(request, _("已授予“%(u)s”在%(unit)s的“%(role)s”角色。") % values)
            return redirect("accounts:membership_list")
    return _render_memberships(request, form)


@require_POST
@login_required
def membership_revoke(request, pk: int):
    membership = get_scoped_or_404(
        Membership.objects.select_related("user", "unit"), request.user, Cap.ROLES,
        field="unit", pk=pk,
    )
    try:
        services.membership_revoke(by=Actor.of(request), membership=membership)
    except ValidationError as error:
        messages.error(request, ";".join(error.messages))
    else:
        messages.success(request, _("已撤销“%(u)s”在%(unit)s的“%(role)s”角色。") % {
            "u": membership.user.username, "unit": membership.unit.name,
            "role": membership.get_role_display(),
        })
    return redirect(_safe_next(request, reverse("accounts:membership_list")))

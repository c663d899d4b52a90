"""The resident's phone page under /s/: no login.

A resident picks the community, orders a service from the menu (grouped by population group)
or files a request, and gets a tracking code. With the code and the last four digits of the
phone given at intake they follow the progress — told in plain words, the handling unit
named but no staff member — and rate the result once it is 待回访.

The page acts as the trusted system actor ``resident`` (``permissions``: the services trust
system actors; the checks happen here): intake validates every field before anything is
written, and a review is taken only after this view has matched code and phone.

Sending the form twice registers one case: the form page carries a one-time key, stored with
the case it registered (``PublicSubmission``, unique). The same form sent again — a double tap,
a reload after the connection dropped — is shown the case already registered; sent with
another phone number, it is refused and the form gets a new key. Back fetches the form page
anew, with a new key, and the browser fills in what was typed: the same words for the same
service from the same phone within ``RESEND_MINUTES`` are taken for the earlier sending too.

Abuse: every POST counts against the client address, and every lookup also against the
tracking code, in fixed one-hour windows kept in the shared cache
(``JIEDAO_PUBLIC_RATE_PER_HOUR`` each). Over the limit the answer is a 429 page in Chinese.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import time
from dataclasses import dataclass

from django import forms
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _l
from django.views.decorators.http import require_http_methods, require_POST

from jiedao.accounts.models import User
from jiedao.audit.trail import Actor, atomic, client_ip
from jiedao.core.identifiers import normalize_mobile, validate_mobile
from jiedao.core.masking import mask_name, mask_phone, mask_text
from jiedao.core.models import OrgUnit, OrgUnitKind

from . import attachments, services
from .models import (
    FINISHED_STATUSES,
    Action,
    AttachmentStage,
    Case,
    CaseEvent,
    CaseKind,
    Category,
    Channel,
    Outcome,
    PublicSubmission,
    Status,
)

PUBLIC_ACTOR_LABEL = "居民(手机页)"
REQUEST_KINDS = (CaseKind.DEMAND, CaseKind.DISPUTE)
SESSION_VERIFIED = "public_verified"  # tracking codes this browser proved with code + phone
SESSION_CREATED = "public_created"  # the code just created, shown once on the done page
SESSION_AGAIN = "public_again"  # the done page tells that the form had been sent before
MAX_VERIFIED = 10
CODE_RE = re.compile(r"^[0-9A-Z]{6,16}$")
RESEND_MINUTES = 30  # the same words sent again within this time are one sending (``_resent``)


def _actor(request: HttpRequest) -> Actor:
    return Actor(user=None, ip=client_ip(request), label=PUBLIC_ACTOR_LABEL)


# --- rate limits ------------------------------------------------------------------------

def _over_limit(request: HttpRequest, *scopes: str) -> int | None:
    """Count one hit against the client address and each scope; seconds to wait if over."""
    limit = settings.JIEDAO_PUBLIC_RATE_PER_HOUR
    window = int(time.time() // 3600)
    keys = [f"jiedao:public:{window}:ip:{client_ip(request) or '-'}"]
    keys += [f"jiedao:public:{window}:{scope}" for scope in scopes]
    over = False
    for key in keys:
        # add() is a no-op when the key exists; incr() is then a read-modify-write, which on
        # the file cache may undercount a little under a burst — good enough for a limit.
        cache.add(key, 0, timeout=3700)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=3700)
            count = 1
        over = over or count > limit
    if over:
        return 3600 - int(time.time()) % 3600
    return None


def _too_many(request: HttpRequest, wait: int) -> HttpResponse:
    response = render(request, "cases/public/limited.html",
                      {"minutes": max(1, (wait + 59) // 60), "limit": settings.JIEDAO_PUBLIC_RATE_PER_HOUR},
                      status=429)
    response["Retry-After"] = str(wait)
    return response


# --- where and what ---------------------------------------------------------------------

def _communities() -> list[OrgUnit]:
    return list(OrgUnit.objects.filter(kind=OrgUnitKind.COMMUNITY, is_active=True)
                .select_related("parent").order_by("path"))


def _community_choices(communities: list[OrgUnit]) -> list:
    groups: dict[str, list] = {}
    for unit in communities:
        groups.setdefault(unit.parent.name if unit.parent else "", []).append((unit.code, unit.name))
    return [("", _("请选择社区"))] + [(street, items) for street, items in groups.items()]


def _public_categories():
    return Category.objects.filter(public=True, is_active=True,
                                   kind__in=(CaseKind.SERVICE_ORDER, *REQUEST_KINDS)).order_by("kind", "sort")


@dataclass
class MenuGroup:
    name: str
    categories: list[Category]


def _grouped(categories) -> list[MenuGroup]:
    groups: dict[str, list[Category]] = {}
    for category in categories:
        groups.setdefault(category.group or category.get_kind_display(), []).append(category)
    return [MenuGroup(name, items) for name, items in groups.items()]


def home(request: HttpRequest) -> HttpResponse:
    communities = _communities()
    code = request.GET.get("c", "")
    units_by_code = {u.code: u for u in communities}
    current = units_by_code.get(code)
    categories = list(_public_categories())
    return render(request, "cases/public/home.html", {
        "communities": communities,
        "community_groups": [(street, [units_by_code[c] for c, _n in items])
                             for street, items in _community_choices(communities)[1:]],
        "current": current,
        "services": _grouped(c for c in categories if c.kind == CaseKind.SERVICE_ORDER),
        "requests": _grouped(c for c in categories if c.kind in REQUEST_KINDS),
    })


# --- intake -----------------------------------------------------------------------------

def new_submission_key() -> str:
    return secrets.token_urlsafe(18)


class IntakeForm(forms.Form):
    # The form page's one-time key (``PublicSubmission``), rendered as a hidden field.
    key = forms.RegexField(regex=r"^[A-Za-z0-9_-]{16,64}$", widget=forms.HiddenInput)
    community = forms.ChoiceField(label=_l("所在社区"))
    name = forms.CharField(label=_l("您的姓名"), max_length=50)
    phone = forms.CharField(label=_l("手机号"), max_length=20,
                            widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "tel"}))
    address = forms.CharField(label=_l("地址"), max_length=200, required=False,
                              widget=forms.TextInput(attrs={"placeholder": _l("小区、楼栋、单元、门牌号")}))
    description = forms.CharField(label=_l("具体情况"), max_length=1000, required=False,
                                  widget=forms.Textarea(attrs={"rows": 4}))
    photo = forms.FileField(label=_l("照片(可选)"), required=False,
                            widget=forms.ClearableFileInput(attrs={"accept": "image/*"}))

    def __init__(self, *args, category: Category, communities: list[OrgUnit], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.category = category
        self.units = {u.code: u for u in communities}
        self.fields["community"].choices = _community_choices(communities)
        self.fields["address"].required = category.home_visit or category.kind in REQUEST_KINDS
        self.fields["description"].required = category.kind in REQUEST_KINDS
        if category.kind == CaseKind.SERVICE_ORDER:
            self.fields["description"].label = _("需求说明")
            self.fields["description"].widget.attrs["placeholder"] = _("例如:希望上门的时间、需要的帮助")
        else:
            self.fields["description"].widget.attrs["placeholder"] = _("发生了什么、在哪里、持续多久")
        for field in self.fields.values():
            field.error_messages["required"] = _("请填写%(f)s") % {"f": field.label}
        self.fields["key"].error_messages["required"] = self.fields["key"].error_messages["invalid"] = _(
            "表单已失效,请核对内容后再提交一次")
        self.fields["community"].error_messages["required"] = _("请选择所在社区")
        self.fields["community"].error_messages["invalid_choice"] = _("所选社区不存在,请重新选择")

    def clean_community(self) -> OrgUnit:
        return self.units[self.cleaned_data["community"]]

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise ValidationError(_("请填写您的姓名"))
        return name

    def clean_phone(self) -> str:
        phone = normalize_mobile(self.cleaned_data["phone"])
        try:
            validate_mobile(phone)
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None
        return phone

    def clean_photo(self):
        photo = self.cleaned_data.get("photo")
        if photo is None:
            return None
        if photo.size > settings.JIEDAO_ATTACHMENT_MAX_BYTES:
            raise ValidationError(_("照片有 %(s).1f MB,超过上限 %(l).0f MB")
                                  % {"s": photo.size / 1e6, "l": settings.JIEDAO_ATTACHMENT_MAX_BYTES / 1e6})
        head = photo.read(16)
        photo.seek(0)
        kind = attachments.sniff(head)
        if kind is None or not kind[0].startswith("image/"):
            raise ValidationError(_("照片须为 JPEG、PNG、GIF 或 WebP 图片(按文件内容判断)"))
        return photo

    def error_list(self) -> list[str]:
        """"字段:问题" lines for the summary at the top of the form."""
        lines = []
        for name, errors in self.errors.items():
            label = self.fields[name].label if name in self.fields else ""
            lines += [f"{label}:{e}" if label else str(e) for e in errors]
        return lines


def _title(category: Category, description: str) -> str:
    if category.kind == CaseKind.SERVICE_ORDER:
        return category.name
    first = re.split(r"[。!?!?\n]", description.strip(), maxsplit=1)[0].strip()
    return f"{category.name}:{first[:40]}" if first else category.name


@require_http_methods(["GET", "HEAD", "POST"])
def submit(request: HttpRequest, code: str) -> HttpResponse:
    category = _public_categories().filter(code=code).first()
    if category is None:
        raise Http404
    communities = _communities()
    key = new_submission_key()
    if request.method == "POST":
        wait = _over_limit(request)
        if wait:
            return _too_many(request, wait)
        form = IntakeForm(request.POST, request.FILES, category=category, communities=communities)
        spent = False
        if form.is_valid():
            data = form.cleaned_data
            sent_before = _sent_before(data["key"]) or _resent(category, data)
            if sent_before is None:
                try:
                    return _to_done(request, _register(request, category, data))
                except IntegrityError:  # the same form's other sending committed first
                    sent_before = _sent_before(data["key"])
                    if sent_before is None:
                        raise
                except services.CaseError as exc:
                    field = {"file": "photo", "requester_phone": "phone", "org_unit": "community",
                             "requester_name": "name"}.get(exc.field, None)
                    form.add_error(field if field in form.fields else None, exc.message)
            if sent_before is not None:
                if sent_before.requester_phone == data["phone"]:
                    return _to_done(request, sent_before, again=True)
                spent = True
                form.add_error(None, _("这张表单已经提交过。如需再反映一件事,请核对内容后再提交一次"))
        # Shown again with the same key while nothing was registered with it: the corrected
        # form is the same sending. A spent or malformed key is replaced.
        if form.cleaned_data.get("key") and not spent:
            key = form.cleaned_data["key"]
        status = 400
    else:
        initial = {"community": request.GET.get("c", "")}
        form = IntakeForm(initial=initial, category=category, communities=communities)
        status = 200
    return render(request, "cases/public/form.html", {
        "category": category, "form": form, "is_order": category.kind == CaseKind.SERVICE_ORDER,
        "back": _home_url(request.POST.get("community") or request.GET.get("c", "")), "key": key,
    }, status=status)


def _sent_before(key: str) -> Case | None:
    """The case an earlier sending of the form with this key registered, if any."""
    return Case.objects.filter(pk__in=PublicSubmission.objects.filter(key=key).values("case_id")).first()


def _resent(category: Category, data: dict) -> Case | None:
    """The same form sent again after Back: the browser fetched the form page anew (a new key)
    and filled in what had been typed. The same words for the same service from the same phone
    within ``RESEND_MINUTES`` are taken for that sending."""
    since = timezone.now() - dt.timedelta(minutes=RESEND_MINUTES)
    return (Case.objects.filter(street=data["community"].street, created_at__gte=since, channel=Channel.WEB,
                                category=category, org_unit=data["community"], requester_phone=data["phone"],
                                requester_name=data["name"], address=data["address"].strip(),
                                description=data["description"].strip())
            .order_by("-created_at").first())


def _register(request: HttpRequest, category: Category, data: dict) -> Case:
    """The case, the form's key and the photo, in one transaction: the key's row is written
    before the photo, so a second sending of the form stops there (``IntegrityError``)."""
    with atomic():
        case = services.case_create(
            _actor(request), title=_title(category, data["description"]), channel=Channel.WEB,
            category=category, community=data["community"], description=data["description"],
            address=data["address"], requester_name=data["name"], requester_phone=data["phone"])
        PublicSubmission.objects.create(key=data["key"], case=case, created_at=case.created_at)
        if data["photo"] is not None:
            attachments.attach(_actor(request), case, upload=data["photo"],
                               stage=AttachmentStage.BEFORE, note=_("居民上传的照片"))
    return case


def _to_done(request: HttpRequest, case: Case, *, again: bool = False) -> HttpResponse:
    request.session[SESSION_CREATED] = case.tracking_code
    request.session[SESSION_AGAIN] = again
    _remember(request, case.tracking_code)
    return redirect("public:done")


def _home_url(community_code: str) -> str:
    url = reverse("public:home")
    return f"{url}?c={community_code}" if community_code else url


def done(request: HttpRequest) -> HttpResponse:
    code = request.session.get(SESSION_CREATED)
    case = (Case.objects.filter(tracking_code=code).select_related("category", "org_unit").first()
            if code else None)
    if case is None:
        return redirect("public:home")
    return render(request, "cases/public/done.html",
                  {"case": case, "again": request.session.get(SESSION_AGAIN, False)})


# --- follow and rate --------------------------------------------------------------------

class LookupForm(forms.Form):
    code = forms.CharField(label=_l("查询码"), max_length=16,
                           widget=forms.TextInput(attrs={"autocapitalize": "characters",
                                                         "autocomplete": "off", "spellcheck": "false"}))
    last4 = forms.CharField(label=_l("手机号后四位"), min_length=4, max_length=4,
                            widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}))

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["code"].error_messages["required"] = _("请填写查询码")
        self.fields["last4"].error_messages.update(
            required=_("请填写手机号后四位"), min_length=_("手机号后四位须为 4 位数字"))

    def clean_code(self) -> str:
        code = re.sub(r"[\s-]", "", self.cleaned_data["code"]).upper()
        if not CODE_RE.match(code):
            raise ValidationError(_("查询码由字母和数字组成,请核对"))
        return code

    def clean_last4(self) -> str:
        last4 = self.cleaned_data["last4"].strip()
        if not (len(last4) == 4 and last4.isdigit()):
            raise ValidationError(_("手机号后四位须为 4 位数字"))
        return last4


def _remember(request: HttpRequest, code: str) -> None:
    verified = [c for c in request.session.get(SESSION_VERIFIED, []) if c != code]
    request.session[SESSION_VERIFIED] = (verified + [code])[-MAX_VERIFIED:]


def _verified(request: HttpRequest, code: str) -> bool:
    return code in request.session.get(SESSION_VERIFIED, [])


@require_http_methods(["GET", "HEAD", "POST"])
def track(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = LookupForm(request.POST)
        code = re.sub(r"[\s-]", "", request.POST.get("code", "")).upper()[:16]
        wait = _over_limit(request, f"code:{code}" if code else "code:-")
        if wait:
            return _too_many(request, wait)
        if form.is_valid():
            code, last4 = form.cleaned_data["code"], form.cleaned_data["last4"]
            phone = Case.objects.filter(tracking_code=code).values_list("requester_phone", flat=True).first()
            if phone and len(phone) >= 4 and phone[-4:] == last4:
                _remember(request, code)
                return redirect("public:progress", code=code)
            # One message for "no such code" and "wrong phone": the page tells nothing either way.
            form.add_error(None, _("查询码与手机号后四位不匹配,请核对后再试"))
        return render(request, "cases/public/track.html", {"form": form}, status=400)
    form = LookupForm(initial={"code": request.GET.get("code", "")})
    return render(request, "cases/public/track.html", {"form": form})


STATUS_WORDS = {
    Status.RECEIVED: _l("已受理,正在安排"),
    Status.DISPATCHED: _l("已派给承办单位"),
    Status.IN_PROGRESS: _l("正在办理"),
    Status.RESOLVED: _l("已办结,请您评价"),
    Status.CLOSED: _l("已办结归档"),
    Status.MERGED: _l("与相同问题合并办理"),
}


def _yes_no(value, yes: str, no: str) -> str:
    return yes if value else no


def public_timeline(case: Case, events: list[CaseEvent]) -> list[tuple]:
    """(time, words) for the steps a resident cares about; staff are named by unit only."""
    rows = []
    for event in events:
        data = event.data or {}
        match event.action:
            case Action.CREATE:
                text = _("您的%(k)s已受理") % {"k": _("服务预约") if case.kind == CaseKind.SERVICE_ORDER
                                                  else _("诉求")}
            case Action.DISPATCH | Action.REDISPATCH:
                unit = data.get("handler_unit") or ""
                text = (_("已派给“%(u)s”办理") % {"u": unit}) if unit else _("已派给承办人办理")
                if event.action == Action.REDISPATCH:
                    text = _("改派:") + text
            case Action.ACCEPT:
                text = _("承办方已接单,正在办理")
            case Action.CLAIM:
                text = _("服务方已认领,正在办理")
            case Action.RETURN:
                text = _("承办方退回,正在重新安排")
            case Action.MERGE:
                text = _("与相同问题的工单合并办理")
            case Action.EXTEND_APPROVE:
                deadline = case.deadline_at if not data.get("new_deadline") else \
                    dt.datetime.fromisoformat(data["new_deadline"])
                text = _("办理期限延长至 %(d)s") % {"d": f"{timezone.localtime(deadline):%Y-%m-%d %H:%M}"}
            case Action.SUPERVISE:
                text = _("街道已督办")
            case Action.RESOLVE:
                text = _("已办结,办理结果:%(o)s") % {"o": Outcome(data.get("outcome") or case.outcome).label
                                                 if (data.get("outcome") or case.outcome) else ""}
            case Action.REVIEW:
                answer = _yes_no(data.get("satisfied"), _("满意"), _("不满意,重新办理"))
                text = _("回访评价:%(s)s") % {"s": answer}
            case Action.REOPEN:
                text = _("重新办理")
            case Action.CLOSE:
                text = _("已归档")
            case Action.ATTACH:
                mine = event.actor_label == PUBLIC_ACTOR_LABEL
                text = _("您上传了照片") if mine else _("承办方上传了办理照片")
            case _:
                continue  # internal notes, 包案, extension requests: not the resident's business
        rows.append((event.at, text))
    return rows


class ReviewForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)
    satisfied = forms.TypedChoiceField(label=_l("您对办理结果满意吗?"), widget=forms.RadioSelect,
                                       choices=(("1", _l("满意")), ("0", _l("不满意"))),
                                       coerce=lambda v: v == "1")
    solved = forms.TypedChoiceField(label=_l("问题解决了吗?"), widget=forms.RadioSelect,
                                    choices=(("1", _l("已解决")), ("0", _l("未解决"))),
                                    coerce=lambda v: v == "1")
    rating = forms.TypedChoiceField(label=_l("打个分吧"), widget=forms.RadioSelect,
                                    choices=[(str(n), str(n)) for n in range(5, 0, -1)], coerce=int)
    comment = forms.CharField(label=_l("还想说的话(可选)"), max_length=300, required=False,
                              widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["satisfied"].error_messages["required"] = _("请选择是否满意")
        self.fields["solved"].error_messages["required"] = _("请选择问题是否解决")
        self.fields["rating"].error_messages["required"] = _("请选择 1 到 5 星")
        self.fields["rating"].error_messages["invalid_choice"] = _("评分须为 1 到 5 星")
        for problem in ("required", "invalid"):  # a hidden field: the page itself is stale or broken
            self.fields["version"].error_messages[problem] = _("页面已过期,请刷新后再评价")


def _case_for_resident(request: HttpRequest, code: str) -> Case | None:
    code = code.upper()
    if not _verified(request, code):
        return None
    return (Case.objects.filter(tracking_code=code)
            .select_related("category", "org_unit", "street", "merged_into")
            .prefetch_related(Prefetch("events", queryset=CaseEvent.objects.order_by("at", "id")))
            .first())


def _staff_names(case: Case, events: list[CaseEvent]) -> list[str]:
    """The names of the people who acted on ``case`` or hold it: a note written for the resident
    may name them, and the resident page names units only."""
    ids = {event.actor_id for event in events} | {case.handler_id, case.owner_id}
    return list(User.objects.filter(pk__in=ids - {None}).exclude(full_name="")
                .values_list("full_name", flat=True))


def _progress_page(request: HttpRequest, case: Case, review_form: ReviewForm | None = None,
                   status: int = 200, error: str = "") -> HttpResponse:
    events = list(case.events.all())
    if review_form is None and case.status == Status.RESOLVED:
        review_form = ReviewForm(initial={"version": case.version})
    return render(request, "cases/public/progress.html", {
        "case": case,
        "status_words": STATUS_WORDS[case.status],
        "timeline": public_timeline(case, events),
        "requester_name": mask_name(case.requester_name),
        "requester_phone": mask_phone(case.requester_phone),
        # the result of the latest handling only: a case sent back (不满意, 重办) is being handled again
        "show_result": case.status in FINISHED_STATUSES and bool(case.outcome),
        "outcome_note": mask_text(case.outcome_note, _staff_names(case, events)),
        "review_form": review_form if case.status == Status.RESOLVED else None,
        "error": error,
        "just_rated": request.GET.get("rated") == "1",
        "primary_words": STATUS_WORDS[case.merged_into.status] if case.merged_into_id else "",
    }, status=status)


def progress(request: HttpRequest, code: str) -> HttpResponse:
    case = _case_for_resident(request, code)
    if case is None:
        return redirect(f"{reverse('public:track')}?code={code.upper()}")
    return _progress_page(request, case)


@require_POST
def rate(request: HttpRequest, code: str) -> HttpResponse:
    wait = _over_limit(request, f"code:{code.upper()}")
    if wait:
        return _too_many(request, wait)
    case = _case_for_resident(request, code)
    if case is None:
        return redirect(f"{reverse('public:track')}?code={code.upper()}")
    form = ReviewForm(request.POST)
    if not form.is_valid():
        return _progress_page(request, case, form, status=400)
    data = form.cleaned_data
    try:
        services.review(_actor(request), case, version=data["version"], satisfied=data["satisfied"],
                        solved=data["solved"], rating=data["rating"], note=data["comment"])
    except services.CaseError as exc:
        case.refresh_from_db()
        message = (_("工单刚刚有了新进展,请看过最新情况后再评价") if isinstance(exc, services.CaseConflict)
                   else exc.message)
        return _progress_page(request, case, None, status=exc.status_code, error=message)
    return redirect(f"{reverse('public:progress', args=[case.tracking_code])}?rated=1")

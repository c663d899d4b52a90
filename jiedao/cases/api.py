"""JSON API of the case loop, mounted by jiedao.api under /api/cases/.

The same services and the same scopes as the staff pages: a case is fetched through
``permissions.get_case_or_404`` (absent and not-yours are both 404), every step goes through
``jiedao.cases.services`` with the ``version`` the caller saw, and ``permissions.may`` decides
who may take it (the services check it again). Errors come back as
``{"detail": 中文说明, "field": 出错的字段, "code": …}``:

* 400 ``invalid`` — bad input (``field`` names it); 403 ``forbidden`` — not allowed to take
  the step; 404 — no such case, or not in the caller's scope; 409 ``conflict`` — the case
  changed since the caller read it (re-read and retry) or ``refused`` — the step is not
  possible from the case's state; 422 — the request body does not fit the schema.

Personal data (requester name and phone) is masked in every response; ``?reveal=1`` on a
single case shows it to a holder of ``Cap.REVEAL_PERSONAL`` and writes the audit event
``cases.reveal``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.http import FileResponse, Http404, HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, File, Form, Query, Router, Schema, Status, UploadedFile
from pydantic import BaseModel, ConfigDict

from jiedao.accounts.access import has_cap
from jiedao.accounts.models import Membership, User
from jiedao.accounts.roles import Cap
from jiedao.audit.trail import Actor, record
from jiedao.core.masking import mask_name, mask_phone
from jiedao.core.models import OrgUnit

from . import lookups, permissions, services, workflow
from .attachments import attach
from .inbox import text_search
from .models import (
    Action,
    AttachmentStage,
    Case,
    CaseKind,
    Category,
    Channel,
    ExtensionStatus,
    Outcome,
    Priority,
)
from .models import (
    Status as CaseStatus,
)
from .services import CaseConflict, CaseError

router = Router(tags=["工单"])

MAX_PAGE_SIZE = 100
MAX_PAGE = 100_000  # 10 million cases at the largest page size; beyond, the offset means nothing


# --- schemas ----------------------------------------------------------------------------------

class Out(BaseModel):
    """Base of the answers' schemas. The views build answers as dicts, which pydantic checks on
    its own (in Rust); ninja's ``Schema`` would first wrap each dict to read it attribute by
    attribute, which cost about as much CPU as building the answer (measured on the intake)."""

    model_config = ConfigDict(from_attributes=True)


class ErrorOut(Out):
    detail: str = Field(..., description="中文错误说明")
    field: str = Field("", description="出错的输入字段(无则为空)")
    code: str = Field(..., description="invalid 输入有误 / forbidden 无权 / refused 状态不允许 / "
                                         "conflict 已被他人更新")


class ValidationErrorOut(Out):
    detail: list[dict[str, Any]] = Field(..., description="请求体不符合接口定义:loc 指出字段")


class NamedRef(Out):
    id: int = Field(..., description="编号")
    name: str = Field(..., description="名称")


class CaseSummary(Out):
    id: int = Field(..., description="工单编号(内部)")
    tracking_code: str = Field(..., description="查询码")
    kind: str = Field(..., description="类型编码")
    kind_label: str = Field(..., description="类型")
    category: str = Field(..., description="分类编码(= Open311 service_code)")
    category_name: str = Field(..., description="分类名称")
    channel: str = Field(..., description="来源渠道编码")
    channel_label: str = Field(..., description="来源渠道")
    title: str = Field(..., description="标题")
    priority: str = Field(..., description="紧急程度:urgent 紧急 / normal 一般")
    status: str = Field(..., description="状态编码")
    status_label: str = Field(..., description="状态")
    street: NamedRef = Field(..., description="所属街道")
    org_unit: NamedRef = Field(..., description="所在社区/网格")
    address: str = Field(..., description="地址")
    requester_name: str = Field(..., description="诉求人(默认脱敏)")
    requester_phone: str = Field(..., description="联系电话(默认脱敏)")
    handler_unit: NamedRef | None = Field(None, description="承办单位")
    handler: NamedRef | None = Field(None, description="承办人")
    owner: NamedRef | None = Field(None, description="包案领导")
    deadline_at: dt.datetime = Field(..., description="办理期限")
    overdue: bool = Field(..., description="是否已超期")
    due_soon: bool = Field(..., description="是否即将到期")
    supervised_at: dt.datetime | None = Field(None, description="督办时间")
    created_at: dt.datetime = Field(..., description="受理时间")
    updated_at: dt.datetime = Field(..., description="最近更新时间")
    version: int = Field(..., description="版本号:每一步操作须带上您看到的版本")


class EventOut(Out):
    id: int
    action: str = Field(..., description="动作编码")
    action_label: str = Field(..., description="动作")
    at: dt.datetime = Field(..., description="时间")
    actor: str = Field(..., description="操作人")
    from_status: str = Field(..., description="原状态")
    to_status: str = Field(..., description="新状态")
    note: str = Field(..., description="说明")
    data: dict[str, Any] = Field(..., description="附加数据")


class AttachmentOut(Out):
    id: int
    name: str = Field(..., description="原文件名")
    stage: str = Field(..., description="阶段:before 处置前 / after 处置后 / other 其他")
    content_type: str = Field(..., description="文件类型(按内容判断)")
    size: int = Field(..., description="字节数")
    uploaded_at: dt.datetime = Field(..., description="上传时间")
    uploaded_by: str = Field(..., description="上传人")
    url: str = Field(..., description="下载地址(同样需要认证)")


class ExtensionOut(Out):
    id: int
    status: str = Field(..., description="pending 待审批 / approved 已批准 / rejected 已驳回")
    reason: str = Field(..., description="延期理由")
    old_deadline: dt.datetime = Field(..., description="原期限")
    new_deadline: dt.datetime = Field(..., description="申请延至")
    requested_by: str = Field(..., description="申请人")
    requested_at: dt.datetime = Field(..., description="申请时间")
    decided_by: str = Field(..., description="审批人")
    decided_at: dt.datetime | None = Field(None, description="审批时间")


class CaseDetail(CaseSummary):
    description: str = Field(..., description="内容")
    latitude: Decimal | None = Field(None, description="纬度")
    longitude: Decimal | None = Field(None, description="经度")
    outcome: str = Field(..., description="办理结果编码(办结后)")
    outcome_note: str = Field(..., description="办结说明")
    satisfied: bool | None = Field(None, description="回访:是否满意")
    solved_by_review: bool | None = Field(None, description="回访:是否解决")
    rating: int | None = Field(None, description="评分 1–5")
    reopen_count: int = Field(..., description="重办次数")
    merged_into: str = Field(..., description="并入的主工单查询码")
    supervision_note: str = Field(..., description="督办要求")
    accept_due_at: dt.datetime | None = Field(None, description="签收期限")
    dispatched_at: dt.datetime | None = Field(None, description="首次派单时间")
    accepted_at: dt.datetime | None = Field(None, description="首次签收时间")
    resolved_at: dt.datetime | None = Field(None, description="办结时间")
    reviewed_at: dt.datetime | None = Field(None, description="回访时间")
    closed_at: dt.datetime | None = Field(None, description="归档时间")
    revealed: bool = Field(..., description="本次响应是否显示了完整个人信息")
    allowed_actions: list[str] = Field(..., description="您现在可以对该工单执行的动作")
    timeline: list[EventOut] = Field(..., description="流转记录(时间顺序)")
    attachments: list[AttachmentOut] = Field(..., description="附件")
    extensions: list[ExtensionOut] = Field(..., description="延期申请")


class CasePage(Out):
    count: int = Field(..., description="符合条件的工单总数")
    page: int = Field(..., description="当前页(从 1 开始)")
    page_size: int = Field(..., description="每页条数")
    pages: int = Field(..., description="总页数")
    items: list[CaseSummary]


class CaseFilter(Schema):
    status: str | None = Field(None, description="状态编码,可用逗号分隔多个:received,dispatched,…")
    kind: str | None = Field(None, description="类型编码,可用逗号分隔多个")
    category: str | None = Field(None, description="分类编码")
    overdue: bool | None = Field(None, description="只看已超期的")
    due_soon: bool | None = Field(None, description="只看即将到期的")
    supervised: bool | None = Field(None, description="只看督办中的")
    mine: bool | None = Field(None, description="只看由我承办的")
    unit: int | None = Field(None, description="只看该单位(含下级)的工单:单位编号")
    q: str | None = Field(None, description="全文检索:标题、内容、地址、查询码;诉求人姓名和电话只在"
                                            "您能查看其完整信息的工单里查找")
    page: int = Field(1, description="页码(1–100000)")
    page_size: int = Field(20, description="每页条数(1–100)")


class CaseCreateIn(Schema):
    title: str = Field(..., description="标题")
    category: str = Field(..., description="分类编码,如 svc-housekeeping")
    channel: str = Field(Channel.API, description="来源渠道编码(默认 api)")
    org_unit: int | None = Field(None, description="所在社区/网格/街道的单位编号")
    org_unit_code: str | None = Field(None, description="或:所在单位的区划代码,如 360103012001")
    description: str = Field("", description="内容")
    address: str = Field("", description="地址")
    latitude: Decimal | None = Field(None, description="纬度")
    longitude: Decimal | None = Field(None, description="经度")
    requester_name: str = Field("", description="诉求人姓名")
    requester_phone: str = Field("", description="联系电话(手机号或带区号的座机)")
    priority: str = Field(Priority.NORMAL, description="urgent 紧急(2 小时)/ normal 一般")
    note: str = Field("", description="受理说明")


class VersionIn(Schema):
    version: int = Field(..., description="您看到的版本号(防止覆盖他人的更新)")


class NoteIn(VersionIn):
    note: str = Field("", description="说明")


class DispatchIn(NoteIn):
    handler_unit: int | None = Field(None, description="承办单位编号")
    handler: int | None = Field(None, description="承办人账号编号")


class ReasonIn(VersionIn):
    reason: str = Field(..., description="理由")


class MergeIn(NoteIn):
    primary: int = Field(..., description="主工单编号")


class AddNoteIn(Schema):
    note: str = Field(..., description="备注内容")
    version: int | None = Field(None, description="您看到的版本号(可选;给出时会检查)")


class ExtensionIn(ReasonIn):
    new_deadline: dt.datetime = Field(..., description="申请延至(ISO 8601,带时区)")


class DecisionIn(NoteIn):
    approve: bool = Field(..., description="true 批准 / false 驳回")


class ResolveIn(VersionIn):
    outcome: str = Field(..., description="solved 解决 / transferred 转办 / explained 解释说明 / "
                                          "unsolvable 无法解决")
    note: str = Field(..., description="办理情况")


class ReviewIn(NoteIn):
    satisfied: bool = Field(..., description="是否满意(满意则归档,不满意则重办)")
    solved: bool | None = Field(None, description="是否解决")
    rating: int | None = Field(None, description="评分 1–5")


class SuperviseIn(VersionIn):
    note: str = Field(..., description="督办要求")


class OwnerIn(VersionIn):
    owner: int = Field(..., description="包案领导的账号编号")


ERRORS: dict[int, type] = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut,
                           422: ValidationErrorOut}


# --- output -------------------------------------------------------------------------------------

def _local(value: dt.datetime | None) -> dt.datetime | None:
    return timezone.localtime(value) if value is not None else None


def _ref(obj) -> dict[str, Any] | None:
    if obj is None:
        return None
    return {"id": obj.pk, "name": str(obj)}


def _summary(case: Case, now: dt.datetime, reveal: bool = False) -> dict[str, Any]:
    return {
        "id": case.pk,
        "tracking_code": case.tracking_code,
        "kind": case.kind,
        "kind_label": str(CaseKind(case.kind).label),
        "category": case.category.code,
        "category_name": str(case.category),
        "channel": case.channel,
        "channel_label": str(Channel(case.channel).label) if case.channel in Channel.values else case.channel,
        "title": case.title,
        "priority": case.priority,
        "status": case.status,
        "status_label": str(CaseStatus(case.status).label),
        "street": _ref(case.street),
        "org_unit": _ref(case.org_unit),
        "address": case.address,
        "requester_name": case.requester_name if reveal else mask_name(case.requester_name),
        "requester_phone": case.requester_phone if reveal else mask_phone(case.requester_phone),
        "handler_unit": _ref(case.handler_unit),
        "handler": _ref(case.handler),
        "owner": _ref(case.owner),
        "deadline_at": _local(case.deadline_at),
        "overdue": case.is_overdue(now),
        "due_soon": case.is_due_soon(now),
        "supervised_at": _local(case.supervised_at),
        "created_at": _local(case.created_at),
        "updated_at": _local(case.updated_at),
        "version": case.version,
    }


def _allowed_actions(user, case: Case, extensions) -> list[str]:
    pending = any(x.status == ExtensionStatus.PENDING for x in extensions)
    now = timezone.now()
    return [action for action in workflow.actions_from(case.status)
            if permissions.may(user, action, case)
            and workflow.open_now(action, case.deadline_at, pending, now)]


def _detail(request: HttpRequest, case: Case, reveal: bool = False) -> dict[str, Any]:
    out = _summary(case, timezone.now(), reveal)
    extensions = list(case.extensions.all())
    text = permissions.written_text(request.user, case)
    out.update({
        "description": text(case.description),
        "latitude": case.latitude,
        "longitude": case.longitude,
        "outcome": case.outcome,
        "outcome_note": text(case.outcome_note),
        "satisfied": case.satisfied,
        "solved_by_review": case.solved_by_review,
        "rating": case.rating,
        "reopen_count": case.reopen_count,
        "merged_into": case.merged_into.tracking_code if case.merged_into_id else "",
        "supervision_note": text(case.supervision_note),
        "accept_due_at": _local(case.accept_due_at),
        "dispatched_at": _local(case.dispatched_at),
        "accepted_at": _local(case.accepted_at),
        "resolved_at": _local(case.resolved_at),
        "reviewed_at": _local(case.reviewed_at),
        "closed_at": _local(case.closed_at),
        "revealed": reveal,
        "allowed_actions": _allowed_actions(request.user, case, extensions),
        "timeline": [
            {"id": e.pk, "action": e.action, "action_label": str(Action(e.action).label), "at": _local(e.at),
             "actor": e.actor_label, "from_status": e.from_status, "to_status": e.to_status,
             "note": text(e.note), "data": e.data}
            for e in case.events.all()
        ],
        "attachments": [
            {"id": a.pk, "name": a.original_name, "stage": a.stage, "content_type": a.content_type,
             "size": a.size, "uploaded_at": _local(a.uploaded_at), "uploaded_by": a.uploaded_by,
             "url": reverse("api:case_attachment", kwargs={"case_id": case.pk, "attachment_id": a.pk})}
            for a in case.attachments.all()
        ],
        "extensions": [
            {"id": x.pk, "status": x.status, "reason": text(x.reason), "old_deadline": _local(x.old_deadline),
             "new_deadline": _local(x.new_deadline), "requested_by": x.requested_by,
             "requested_at": _local(x.requested_at), "decided_by": x.decided_by,
             "decided_at": _local(x.decided_at)}
            for x in extensions
        ],
    })
    return out


def _error(exc: CaseError) -> dict[str, str]:
    if isinstance(exc, CaseConflict):
        code = "conflict"
    elif isinstance(exc, services.TransitionRefused):
        code = "refused"
    elif isinstance(exc, services.NotAllowed):
        code = "forbidden"
    else:
        code = "invalid"
    return {"detail": exc.message, "field": exc.field, "code": code}


def _fetch(request: HttpRequest, case_id: int) -> Case:
    return permissions.get_case_or_404(request.user, pk=case_id)


def _act(request: HttpRequest, case_id: int, step: Callable[[Actor, Case], Any]):
    """Fetch the case in the caller's scope, take the step, answer with the case as it is now."""
    case = _fetch(request, case_id)
    try:
        step(Actor.of(request), case)
    except CaseError as exc:
        return Status(exc.status_code, _error(exc))
    return Status(200, _after(request, case))


def _after(request: HttpRequest, case: Case) -> dict[str, Any]:
    """The case after the caller's step. A step can take a case out of the caller's scope
    (退单 hands it back to the dispatcher): the caller still gets the result of the step."""
    try:
        return _detail(request, _fetch(request, case.pk))
    except Http404:
        case.refresh_from_db()
        return _detail(request, case)


def _check_version(case: Case, version: int | None) -> None:
    if version is not None and version != case.version:
        raise CaseConflict(_("工单 %(c)s 已被他人更新(您看到的是第 %(a)s 版,现在是第 %(b)s 版),请刷新后重试")
                           % {"c": case.tracking_code, "a": version, "b": case.version}, "version")


# --- look-ups of ids given in the input ------------------------------------------------------------

def _unit_in_street(unit_id: int | None, case: Case, field: str) -> OrgUnit | None:
    if unit_id is None:
        return None
    unit = OrgUnit.objects.filter(pk=unit_id, is_active=True).first()
    if unit is None or not unit.path.startswith(case.street.path):
        raise CaseError(_("%(s)s没有编号为 %(i)s 的单位") % {"s": case.street.name, "i": unit_id}, field)
    return unit


def _user_in_street(user_id: int | None, case: Case, field: str) -> User | None:
    """An active account holding some role inside the case's street."""
    if user_id is None:
        return None
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None or not Membership.objects.filter(
            user=user, unit__path__startswith=case.street.path).exists():
        raise CaseError(_("%(s)s没有编号为 %(i)s 的启用账号") % {"s": case.street.name, "i": user_id}, field)
    return user


def _codes(value: str | None, allowed: list[str], field: str, label: str) -> list[str]:
    codes = [v.strip() for v in (value or "").split(",") if v.strip()]
    for code in codes:
        if code not in allowed:
            raise CaseError(_("未知的%(l)s“%(c)s”,可选:%(a)s")
                            % {"l": label, "c": code, "a": ", ".join(allowed)}, field)
    return codes


# --- read -------------------------------------------------------------------------------------------

@router.get("/", response={200: CasePage, **ERRORS}, summary="工单列表",
            description="您权限范围内的工单,按受理时间倒序;个人信息脱敏。")
def list_cases(request: HttpRequest, filters: Query[CaseFilter]):
    if (refused := _page_refused(filters.page, filters.page_size)) is not None:
        return refused
    user = request.user
    queryset = permissions.visible(user).select_related(
        "category", "street", "org_unit", "handler_unit", "handler", "owner")
    now = timezone.now()
    try:
        if statuses := _codes(filters.status, CaseStatus.values, "status", _("状态")):
            queryset = queryset.filter(status__in=statuses)
        if kinds := _codes(filters.kind, CaseKind.values, "kind", _("类型")):
            queryset = queryset.filter(kind__in=kinds)
        if filters.category:
            if not Category.objects.filter(code=filters.category).exists():
                raise CaseError(_("未知的分类编码“%(c)s”") % {"c": filters.category}, "category")
            queryset = queryset.filter(category__code=filters.category)
        if filters.unit is not None:
            unit = OrgUnit.objects.filter(pk=filters.unit).first()
            if unit is None:
                raise CaseError(_("没有编号为 %(i)s 的单位") % {"i": filters.unit}, "unit")
            queryset = queryset.filter(org_unit__path__startswith=unit.path)
    except CaseError as exc:
        return Status(400, _error(exc))
    if filters.overdue:
        queryset = queryset.overdue(now)
    if filters.due_soon:
        queryset = queryset.due_soon(now)
    if filters.supervised:
        queryset = queryset.supervised()
    if filters.mine:
        queryset = queryset.filter(handler=user)
    if filters.q and filters.q.strip():
        if permissions.phone_search_refused(request.user, filters.q):
            return Status(400, {"detail": str(permissions.PHONE_SEARCH_REFUSED), "field": "q",
                                "code": "invalid"})
        queryset = text_search(queryset, filters.q.strip(), request.user)
    count = queryset.count()
    size = filters.page_size
    pages = max((count + size - 1) // size, 1)
    start = (filters.page - 1) * size
    rows = list(queryset.order_by("-created_at", "-id")[start:start + size])
    return Status(200, {"count": count, "page": filters.page, "page_size": size, "pages": pages,
                        "items": [_summary(case, now) for case in rows]})


@router.get("/{int:case_id}", response={200: CaseDetail, **ERRORS}, summary="工单详情(含流转记录)",
            description="reveal=1 显示完整的诉求人姓名和电话:需要“查看完整个人信息”权限,并记入审计日志。")
def get_case(request: HttpRequest, case_id: int, reveal: bool = False):
    case = _fetch(request, case_id)
    if reveal:
        if not permissions.may_reveal(request.user, case):
            return Status(403, {"detail": _("您无权查看完整个人信息"), "field": "reveal",
                                "code": "forbidden"})
        record(by=Actor.of(request), event_type="cases.reveal", target=case, org_unit=case.org_unit,
               changes={"fields": ["requester_name", "requester_phone"], "via": "api"})
    return Status(200, _detail(request, case, reveal=reveal))


@router.get("/{int:case_id}/attachments/{int:attachment_id}", response={200: None, **ERRORS},
            summary="下载附件", url_name="case_attachment")
def get_attachment(request: HttpRequest, case_id: int, attachment_id: int):
    case = _fetch(request, case_id)
    row = case.attachments.filter(pk=attachment_id).first()
    if row is None:
        raise Http404
    return FileResponse(row.file.open("rb"), content_type=row.content_type, as_attachment=True,
                        filename=row.original_name)


# --- create --------------------------------------------------------------------------------------

@router.post("/", response={201: CaseDetail, **ERRORS}, summary="登记工单(受理)",
             description="在您有权登记的社区/网格/街道登记一件工单;诉求人电话会校验。")
def create_case(request: HttpRequest, payload: CaseCreateIn):
    try:
        category = lookups.category(payload.category)
        if category is None:
            raise CaseError(_("未知的分类编码“%(c)s”") % {"c": payload.category}, "category")
        unit = None
        if payload.org_unit is not None:
            unit = OrgUnit.objects.filter(pk=payload.org_unit, is_active=True).first()
            if unit is None:
                raise CaseError(_("没有编号为 %(i)s 的单位") % {"i": payload.org_unit}, "org_unit")
        elif payload.org_unit_code:
            unit = lookups.unit(payload.org_unit_code)
            if unit is None:
                raise CaseError(_("没有区划代码为 %(c)s 的单位") % {"c": payload.org_unit_code},
                                "org_unit_code")
        if unit is None:
            raise CaseError(_("请给出工单所在的单位(org_unit 或 org_unit_code)"), "org_unit")
        by = Actor.of(request)
        if not permissions.may_create(request.user, unit):
            raise services.NotAllowed(_("您不能在“%(u)s”登记工单") % {"u": unit.name}, "org_unit")
        case = services.case_create(
            by, title=payload.title, channel=payload.channel, category=category, org_unit=unit,
            description=payload.description, address=payload.address, latitude=payload.latitude,
            longitude=payload.longitude, requester_name=payload.requester_name,
            requester_phone=payload.requester_phone, priority=payload.priority, note=payload.note,
            requester_user=request.user if has_cap(request.user, Cap.OWN_REQUESTS, unit)
            and not has_cap(request.user, Cap.BUSINESS_WRITE, unit) else None,
        )
    except CaseError as exc:
        return Status(exc.status_code, _error(exc))
    # The case as created (its relations are loaded already); no second scoped look-up. A new
    # case has no attachments or extensions yet, and its timeline is its create event.
    case._prefetched_objects_cache = {"attachments": [], "extensions": [], "events": [case.intake_event]}
    return Status(201, _detail(request, case))


# --- steps ---------------------------------------------------------------------------------------

def _step_doc(label: str) -> dict[str, Any]:
    return {"response": {200: CaseDetail, **ERRORS}, "summary": label}


@router.post("/{int:case_id}/dispatch", **_step_doc("派单"))
def dispatch(request: HttpRequest, case_id: int, payload: DispatchIn):
    def step(by, case):
        services.dispatch(by, case, version=payload.version, note=payload.note,
                          handler_unit=_unit_in_street(payload.handler_unit, case, "handler_unit"),
                          handler=_user_in_street(payload.handler, case, "handler"))
    return _act(request, case_id, step)


@router.post("/{int:case_id}/redispatch", **_step_doc("改派(须写明原因)"))
def redispatch(request: HttpRequest, case_id: int, payload: DispatchIn):
    def step(by, case):
        services.redispatch(by, case, version=payload.version, note=payload.note,
                            handler_unit=_unit_in_street(payload.handler_unit, case, "handler_unit"),
                            handler=_user_in_street(payload.handler, case, "handler"))
    return _act(request, case_id, step)


@router.post("/{int:case_id}/accept", **_step_doc("签收 / 接单"))
def accept(request: HttpRequest, case_id: int, payload: NoteIn):
    return _act(request, case_id,
                lambda by, case: services.accept(by, case, version=payload.version, note=payload.note))


def _page_refused(page: int, page_size: int) -> Status | None:
    """The lists' page and page size out of bounds: 400 naming the parameter."""
    for field, value, high in (("page", page, MAX_PAGE), ("page_size", page_size, MAX_PAGE_SIZE)):
        if not 1 <= value <= high:
            return Status(400, {"detail": _("%(f)s 须在 1 到 %(h)s 之间") % {"f": field, "h": high},
                                "field": field, "code": "invalid"})
    return None


@router.get("/pool", response={200: CasePage, **ERRORS}, summary="可认领的服务点单(服务方)",
            description="服务方所在社区/街道里尚未派出的服务点单,可用 claim 认领;个人信息脱敏。")
def pool(request: HttpRequest, page: int = 1, page_size: int = 20):
    if (refused := _page_refused(page, page_size)) is not None:
        return refused
    queryset = Case.objects.filter(permissions.claimable_q(request.user)).select_related(
        "category", "street", "org_unit", "handler_unit", "handler", "owner")
    count = queryset.count()
    rows = list(queryset.order_by("created_at", "id")[(page - 1) * page_size:page * page_size])
    now = timezone.now()
    return Status(200, {"count": count, "page": page, "page_size": page_size,
                        "pages": max((count + page_size - 1) // page_size, 1),
                        "items": [_summary(case, now) for case in rows]})


@router.post("/{int:case_id}/claim", **_step_doc("认领服务点单(服务方)"))
def claim(request: HttpRequest, case_id: int, payload: NoteIn):
    # The pool is not part of a provider's visible cases (those are its own orders), so the
    # order is looked up among the visible ones and the claimable ones.
    user = request.user
    case = (Case.objects.filter(permissions.visible_q(user) | permissions.claimable_q(user))
            .select_related("category", "street", "org_unit").filter(pk=case_id).first())
    if case is None:
        raise Http404
    try:
        services.claim(Actor.of(request), case, version=payload.version, note=payload.note)
    except CaseError as exc:
        return Status(exc.status_code, _error(exc))
    return Status(200, _after(request, case))


@router.post("/{int:case_id}/return", **_step_doc("退单(须写明理由)"))
def return_case(request: HttpRequest, case_id: int, payload: ReasonIn):
    return _act(request, case_id,
                lambda by, case: services.return_case(by, case, version=payload.version,
                                                      reason=payload.reason))


@router.post("/{int:case_id}/merge", **_step_doc("并单:并入主工单"))
def merge(request: HttpRequest, case_id: int, payload: MergeIn):
    def step(by, case):
        primary = permissions.visible(request.user).filter(pk=payload.primary).first()
        if primary is None:
            raise CaseError(_("没有编号为 %(i)s 的主工单") % {"i": payload.primary}, "primary")
        services.merge(by, case, version=payload.version, primary=primary, note=payload.note)
    return _act(request, case_id, step)


@router.post("/{int:case_id}/notes", **_step_doc("添加备注"))
def add_note(request: HttpRequest, case_id: int, payload: AddNoteIn):
    def step(by, case):
        _check_version(case, payload.version)
        if not permissions.may(request.user, Action.NOTE, case):
            raise services.NotAllowed(_("您无权对该工单%(a)s") % {"a": Action.NOTE.label})
        services.add_note(by, case, note=payload.note)
    return _act(request, case_id, step)


@router.post("/{int:case_id}/attachments", **_step_doc("上传附件(multipart:file、stage、note)"))
def upload_attachment(request: HttpRequest, case_id: int, file: File[UploadedFile],
                      stage: Form[str] = AttachmentStage.OTHER, note: Form[str] = "",
                      version: Form[int | None] = None):
    def step(by, case):
        _check_version(case, version)
        attach(by, case, upload=file, stage=stage, note=note)
    return _act(request, case_id, step)


@router.post("/{int:case_id}/extension", **_step_doc("申请延期"))
def request_extension(request: HttpRequest, case_id: int, payload: ExtensionIn):
    def step(by, case):
        new_deadline = payload.new_deadline
        if timezone.is_naive(new_deadline):
            new_deadline = timezone.make_aware(new_deadline)
        services.request_extension(by, case, version=payload.version, new_deadline=new_deadline,
                                   reason=payload.reason)
    return _act(request, case_id, step)


@router.post("/{int:case_id}/extension/decision", **_step_doc("审批延期"))
def decide_extension(request: HttpRequest, case_id: int, payload: DecisionIn):
    def step(by, case):
        if not case.extensions.filter(status=ExtensionStatus.PENDING).exists():
            raise CaseError(_("没有待审批的延期申请"), "approve")
        services.decide_extension(by, case, version=payload.version, approve=payload.approve,
                                  note=payload.note)
    return _act(request, case_id, step)


@router.post("/{int:case_id}/resolve", **_step_doc("办结"))
def resolve(request: HttpRequest, case_id: int, payload: ResolveIn):
    def step(by, case):
        if payload.outcome not in Outcome.values:
            raise CaseError(_("未知的办理结果“%(o)s”,可选:%(a)s")
                            % {"o": payload.outcome, "a": ", ".join(Outcome.values)}, "outcome")
        services.resolve(by, case, version=payload.version, outcome=payload.outcome, note=payload.note)
    return _act(request, case_id, step)


@router.post("/{int:case_id}/review", **_step_doc("回访"))
def review(request: HttpRequest, case_id: int, payload: ReviewIn):
    return _act(request, case_id,
                lambda by, case: services.review(by, case, version=payload.version,
                                                 satisfied=payload.satisfied, solved=payload.solved,
                                                 rating=payload.rating, note=payload.note))


@router.post("/{int:case_id}/reopen", **_step_doc("重办(须写明理由)"))
def reopen(request: HttpRequest, case_id: int, payload: ReasonIn):
    return _act(request, case_id,
                lambda by, case: services.reopen(by, case, version=payload.version, reason=payload.reason))


@router.post("/{int:case_id}/close", **_step_doc("归档"))
def close(request: HttpRequest, case_id: int, payload: NoteIn):
    return _act(request, case_id,
                lambda by, case: services.close(by, case, version=payload.version, note=payload.note))


@router.post("/{int:case_id}/supervise", **_step_doc("督办(领导)"))
def supervise(request: HttpRequest, case_id: int, payload: SuperviseIn):
    return _act(request, case_id,
                lambda by, case: services.supervise(by, case, version=payload.version, note=payload.note))


@router.post("/{int:case_id}/owner", **_step_doc("包案:指定包案领导"))
def assign_owner(request: HttpRequest, case_id: int, payload: OwnerIn):
    def step(by, case):
        owner = _user_in_street(payload.owner, case, "owner")
        services.assign_owner(by, case, version=payload.version, owner=owner)
    return _act(request, case_id, step)

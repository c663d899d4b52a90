"""Cases (工单): one closed loop for every kind of request (domain.md §3).

A case moves through a small state machine (``jiedao.cases.workflow``); every step is a
``CaseEvent`` on its timeline and an audit event, written in one transaction by
``jiedao.cases.services``. The lifecycle timestamps on ``Case`` are kept in step with the
timeline so lists and exports need no join; KPIs are computed from the timeline itself.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class CaseKind(models.TextChoices):
    SERVICE_ORDER = "service_order", _("服务点单")
    DEMAND = "demand", _("群众诉求")
    ENTERPRISE_DEMAND = "enterprise_demand", _("企业诉求")
    DISPUTE = "dispute", _("矛盾纠纷")
    HAZARD = "hazard", _("安全隐患")
    PETITION = "petition", _("信访")
    RECTIFICATION = "rectification", _("整改事项")
    SUGGESTION = "suggestion", _("意见建议")


class Channel(models.TextChoices):
    HOTLINE = "hotline_12345", _("12345热线")
    PHONE = "phone", _("来电")
    WALK_IN = "walk_in", _("来访")
    LETTER = "letter", _("来信")
    PATROL = "grid_patrol", _("网格巡查")
    WEB = "web", _("网页/手机")
    ROUNDTABLE = "roundtable", _("圆桌会")
    VISIT = "visit", _("走访")
    INSPECTION = "inspection", _("排查")
    AUDIT_FEEDBACK = "audit_feedback", _("巡察反馈")
    JOINT_MEETING = "joint_meeting", _("联席会议")
    OPEN311 = "open311", _("外部系统(Open311)")
    API = "api", _("接口")


class Status(models.TextChoices):
    RECEIVED = "received", _("待派单")
    DISPATCHED = "dispatched", _("待签收")
    IN_PROGRESS = "in_progress", _("办理中")
    RESOLVED = "resolved", _("待回访")
    CLOSED = "closed", _("已归档")
    MERGED = "merged", _("已并单")


OPEN_STATUSES = (Status.RECEIVED, Status.DISPATCHED, Status.IN_PROGRESS)
FINISHED_STATUSES = (Status.RESOLVED, Status.CLOSED)


class Outcome(models.TextChoices):
    SOLVED = "solved", _("解决")
    TRANSFERRED = "transferred", _("转办")
    EXPLAINED = "explained", _("解释说明")
    UNSOLVABLE = "unsolvable", _("无法解决")


class Priority(models.TextChoices):
    URGENT = "urgent", _("紧急")
    NORMAL = "normal", _("一般")


class DeadlineUnit(models.TextChoices):
    HOURS = "hours", _("小时")
    WORKING_DAYS = "working_days", _("工作日")


class Category(models.Model):
    """One entry of the catalogue: what a case is about, and its deadline policy."""

    kind = models.CharField(_("类型"), max_length=24, choices=CaseKind.choices)
    code = models.SlugField(_("编码"), max_length=40, unique=True,
                            help_text=_("对外(Open311 service_code)使用,定下后不要改"))
    name = models.CharField(_("名称"), max_length=60)
    group = models.CharField(_("分组"), max_length=40, blank=True,
                             help_text=_("服务菜单的人群分组,或隐患的部件/事件大类"))
    description = models.CharField(_("说明"), max_length=200, blank=True)
    deadline_value = models.PositiveSmallIntegerField(_("办理时限"), default=7)
    deadline_unit = models.CharField(_("时限单位"), max_length=16, choices=DeadlineUnit.choices,
                                     default=DeadlineUnit.WORKING_DAYS)
    accept_hours = models.PositiveSmallIntegerField(
        _("签收时限(小时)"), default=2, help_text=_("派单后多少小时内签收算及时响应"))
    home_visit = models.BooleanField(_("上门服务"), default=False)
    public = models.BooleanField(_("居民端/外部系统可选"), default=False)
    sort = models.PositiveSmallIntegerField(_("排序"), default=0)
    is_active = models.BooleanField(_("启用"), default=True)

    class Meta:
        verbose_name = _("工单分类")
        verbose_name_plural = _("工单分类")
        ordering = ["kind", "sort", "code"]

    def __str__(self) -> str:
        return f"{self.group}·{self.name}" if self.group else self.name

    @property
    def deadline_label(self) -> str:
        return f"{self.deadline_value}{DeadlineUnit(self.deadline_unit).label}"


class CaseQuerySet(models.QuerySet):
    def open(self):
        return self.filter(status__in=OPEN_STATUSES)

    def overdue(self, now=None):
        now = now or timezone.now()
        return self.open().filter(deadline_at__lt=now)

    def due_soon(self, now=None, hours: int | None = None):
        now = now or timezone.now()
        hours = settings.JIEDAO_CASE_DUE_SOON_HOURS if hours is None else hours
        return self.open().filter(deadline_at__gte=now,
                                  deadline_at__lt=now + timezone.timedelta(hours=hours))

    def solved(self):
        """Finished with the outcome 解决 (a figure's "solved")."""
        return self.filter(status__in=FINISHED_STATUSES, outcome=Outcome.SOLVED)

    def finished(self):
        return self.filter(status__in=FINISHED_STATUSES)

    def supervised(self):
        return self.filter(supervised_at__isnull=False).exclude(status__in=(Status.CLOSED, Status.MERGED))


class Case(models.Model):
    tracking_code = models.CharField(_("查询码"), max_length=16, unique=True)
    kind = models.CharField(_("类型"), max_length=24, choices=CaseKind.choices, db_index=True)
    # A new case updates every index of this table, so the foreign keys that lead one of the
    # composite indexes in Meta.indexes (category, street, org_unit, handler_unit) get no index
    # of their own: the composite serves their look-ups.
    category = models.ForeignKey(Category, verbose_name=_("分类"), on_delete=models.PROTECT,
                                 related_name="cases", db_index=False)
    channel = models.CharField(_("来源"), max_length=24, choices=Channel.choices)
    title = models.CharField(_("标题"), max_length=120)
    description = models.TextField(_("内容"), blank=True)
    priority = models.CharField(_("紧急程度"), max_length=10, choices=Priority.choices,
                                default=Priority.NORMAL)

    # Where: the street it belongs to, and the most specific unit (community or grid).
    street = models.ForeignKey("core.OrgUnit", verbose_name=_("街道"), on_delete=models.PROTECT,
                               related_name="+", db_index=False)
    org_unit = models.ForeignKey("core.OrgUnit", verbose_name=_("所在社区/网格"),
                                 on_delete=models.PROTECT, related_name="cases", db_index=False)
    address = models.CharField(_("地址"), max_length=200, blank=True)
    latitude = models.DecimalField(_("纬度"), max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(_("经度"), max_digits=9, decimal_places=6, null=True, blank=True)

    # Who asked.
    requester_name = models.CharField(_("诉求人"), max_length=50, blank=True)
    requester_phone = models.CharField(_("联系电话"), max_length=20, blank=True)
    resident = models.ForeignKey("ledgers.Resident", verbose_name=_("服务对象"),
                                 on_delete=models.SET_NULL, null=True, blank=True, related_name="cases",
                                 db_index=False)
    enterprise = models.ForeignKey("ledgers.Enterprise", verbose_name=_("企业"),
                                   on_delete=models.SET_NULL, null=True, blank=True, related_name="cases",
                                   db_index=False)
    # The person columns, resident, enterprise (and merged_into) are mostly NULL: each has a
    # partial index on its non-NULL rows (Meta.indexes) instead of the full one a ForeignKey
    # gets by default.
    requester_user = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("提交账号"),
                                       on_delete=models.SET_NULL, null=True, blank=True,
                                       related_name="requested_cases", db_index=False)
    # Who handles, and who answers for it.
    handler_unit = models.ForeignKey("core.OrgUnit", verbose_name=_("承办单位"),
                                     on_delete=models.PROTECT, null=True, blank=True,
                                     related_name="handled_cases", db_index=False)
    handler = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("承办人"),
                                on_delete=models.PROTECT, null=True, blank=True,
                                related_name="handled_cases", db_index=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("包案领导"),
                              on_delete=models.PROTECT, null=True, blank=True,
                              related_name="owned_cases", db_index=False)

    status = models.CharField(_("状态"), max_length=16, choices=Status.choices,
                              default=Status.RECEIVED, db_index=True)
    outcome = models.CharField(_("办理结果"), max_length=16, choices=Outcome.choices, blank=True)
    outcome_note = models.TextField(_("办结说明"), blank=True)
    merged_into = models.ForeignKey("self", verbose_name=_("并入"), on_delete=models.PROTECT,
                                    null=True, blank=True, related_name="merged_cases", db_index=False)

    deadline_at = models.DateTimeField(_("办理期限"), db_index=True)
    accept_due_at = models.DateTimeField(_("签收期限"), null=True, blank=True)
    supervised_at = models.DateTimeField(_("督办时间"), null=True, blank=True)
    supervision_note = models.CharField(_("督办要求"), max_length=200, blank=True)

    # 回访 answers (the latest review).
    satisfied = models.BooleanField(_("满意"), null=True, blank=True)
    solved_by_review = models.BooleanField(_("回访确认解决"), null=True, blank=True)
    rating = models.PositiveSmallIntegerField(_("评分"), null=True, blank=True)
    reopen_count = models.PositiveSmallIntegerField(_("重办次数"), default=0)

    # Lifecycle timestamps, mirrored from the timeline (first dispatch/accept, last resolve …).
    created_at = models.DateTimeField(_("受理时间"), default=timezone.now, db_index=True)
    dispatched_at = models.DateTimeField(_("首次派单"), null=True, blank=True)
    accepted_at = models.DateTimeField(_("首次签收"), null=True, blank=True)
    resolved_at = models.DateTimeField(_("办结时间"), null=True, blank=True)
    reviewed_at = models.DateTimeField(_("回访时间"), null=True, blank=True)
    closed_at = models.DateTimeField(_("归档时间"), null=True, blank=True)
    updated_at = models.DateTimeField(_("更新时间"), default=timezone.now)

    # Optimistic concurrency: every step bumps it; a step on a stale version is refused.
    version = models.PositiveIntegerField(default=1)

    objects = CaseQuerySet.as_manager()

    class Meta:
        verbose_name = _("工单")
        verbose_name_plural = _("工单")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["street", "status", "deadline_at"], name="case_street_status_dl"),
            models.Index(fields=["handler_unit", "status", "deadline_at"], name="case_hunit_status_dl"),
            models.Index(fields=["category", "org_unit", "created_at"], name="case_cat_unit_created"),
            models.Index(fields=["street", "created_at"], name="case_street_created"),
            # The 全部 tab of a unit scope, newest first, per branch (migration 0006).
            models.Index(fields=["org_unit", "created_at"], name="case_unit_created"),
            models.Index(fields=["handler_unit", "created_at"], name="case_hunit_created"),
            models.Index(fields=["org_unit", "status", "deadline_at"], name="case_unit_status_dl"),
            # The supervision list: few rows, read in deadline order, per street (a leader) or
            # per unit as place or handling unit (a community's or department's staff).
            models.Index(fields=["street", "status", "deadline_at"], condition=Q(supervised_at__isnull=False),
                         name="case_supervised_dl"),
            models.Index(fields=["org_unit", "status", "deadline_at"],
                         condition=Q(supervised_at__isnull=False), name="case_supervised_unit_dl"),
            models.Index(fields=["handler_unit", "status", "deadline_at"],
                         condition=Q(supervised_at__isnull=False), name="case_supervised_hunit_dl"),
            # Mostly-NULL columns, indexed on their non-NULL rows only: the index holds the few
            # rows that matter, and its statistics say so — over a full index SQLite counts the
            # NULLs as one very common value and would rather scan. ``col = x`` implies
            # ``col IS NOT NULL``, so both SQLite and PostgreSQL use these for equality look-ups
            # (visibility's own cases, the 包案 list, the duplicates merged into a case).
            models.Index(fields=["handler", "status", "deadline_at"], condition=Q(handler__isnull=False),
                         name="case_handler_status_dl_nn"),
            models.Index(fields=["owner"], condition=Q(owner__isnull=False), name="case_owner_nn"),
            models.Index(fields=["requester_user"], condition=Q(requester_user__isnull=False),
                         name="case_requester_user_nn"),
            models.Index(fields=["merged_into"], condition=Q(merged_into__isnull=False),
                         name="case_merged_into_nn"),
            models.Index(fields=["resident"], condition=Q(resident__isnull=False), name="case_resident_nn"),
            models.Index(fields=["enterprise"], condition=Q(enterprise__isnull=False),
                         name="case_enterprise_nn"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(rating__isnull=True) | Q(rating__gte=1, rating__lte=5),
                                   name="case_rating_1_5"),
        ]

    def __str__(self) -> str:
        return f"{self.tracking_code} {self.title}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def is_overdue(self, now=None) -> bool:
        return self.is_open and self.deadline_at < (now or timezone.now())

    def is_due_soon(self, now=None) -> bool:
        now = now or timezone.now()
        soon = now + timezone.timedelta(hours=settings.JIEDAO_CASE_DUE_SOON_HOURS)
        return self.is_open and now <= self.deadline_at < soon

    @property
    def resolved_on_time(self) -> bool | None:
        if self.resolved_at is None:
            return None
        return self.resolved_at <= self.deadline_at


class Action(models.TextChoices):
    CREATE = "create", _("受理")
    DISPATCH = "dispatch", _("派单")
    REDISPATCH = "redispatch", _("改派")
    ACCEPT = "accept", _("签收")
    CLAIM = "claim", _("认领")
    RETURN = "return", _("退单")
    MERGE = "merge", _("并单")
    NOTE = "note", _("备注")
    ATTACH = "attach", _("上传附件")
    EXTEND_REQUEST = "extend_request", _("申请延期")
    EXTEND_APPROVE = "extend_approve", _("批准延期")
    EXTEND_REJECT = "extend_reject", _("驳回延期")
    RESOLVE = "resolve", _("办结")
    REVIEW = "review", _("回访")
    REOPEN = "reopen", _("重办")
    CLOSE = "close", _("归档")
    SUPERVISE = "supervise", _("督办")
    ASSIGN_OWNER = "assign_owner", _("包案")


class CaseEvent(models.Model):
    """One step on a case's timeline: who, when, what, from which state to which."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(_("动作"), max_length=20, choices=Action.choices)
    at = models.DateTimeField(_("时间"), default=timezone.now)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True,
                              blank=True, related_name="+")
    actor_label = models.CharField(_("操作人"), max_length=150)
    from_status = models.CharField(max_length=16, choices=Status.choices, blank=True)
    to_status = models.CharField(max_length=16, choices=Status.choices, blank=True)
    note = models.TextField(_("说明"), blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("工单流转记录")
        verbose_name_plural = _("工单流转记录")
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["action", "at"], name="caseevent_action_at")]

    def __str__(self) -> str:
        return f"{self.case_id} {self.get_action_display()} {self.at:%Y-%m-%d %H:%M}"


class AttachmentStage(models.TextChoices):
    BEFORE = "before", _("处置前")
    AFTER = "after", _("处置后")
    OTHER = "other", _("其他")


def attachment_path(instance: Attachment, filename: str) -> str:
    case = instance.case
    return f"cases/{case.created_at:%Y/%m}/{case.tracking_code}/{instance.sha256[:16]}{instance.extension}"


class Attachment(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="attachments")
    event = models.ForeignKey(CaseEvent, on_delete=models.SET_NULL, null=True, blank=True,
                              related_name="attachments")
    stage = models.CharField(_("阶段"), max_length=10, choices=AttachmentStage.choices,
                             default=AttachmentStage.OTHER)
    file = models.FileField(_("文件"), upload_to=attachment_path, max_length=200)
    original_name = models.CharField(_("原文件名"), max_length=200)
    content_type = models.CharField(max_length=60)
    extension = models.CharField(max_length=8)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_at = models.DateTimeField(default=timezone.now)
    uploaded_by = models.CharField(_("上传人"), max_length=150)

    class Meta:
        verbose_name = _("工单附件")
        verbose_name_plural = _("工单附件")
        ordering = ["uploaded_at", "id"]

    def __str__(self) -> str:
        return self.original_name


class ExtensionStatus(models.TextChoices):
    PENDING = "pending", _("待审批")
    APPROVED = "approved", _("已批准")
    REJECTED = "rejected", _("已驳回")


class Extension(models.Model):
    """A handler's request for more time, decided by a dispatcher or leader."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="extensions")
    requested_by = models.CharField(max_length=150)
    requested_at = models.DateTimeField(default=timezone.now)
    reason = models.CharField(_("延期理由"), max_length=300)
    old_deadline = models.DateTimeField()
    new_deadline = models.DateTimeField(_("申请延至"))
    status = models.CharField(max_length=10, choices=ExtensionStatus.choices,
                              default=ExtensionStatus.PENDING)
    decided_by = models.CharField(max_length=150, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("延期申请")
        verbose_name_plural = _("延期申请")
        ordering = ["requested_at"]
        constraints = [
            models.UniqueConstraint(fields=["case"], condition=Q(status="pending"),
                                    name="one_pending_extension_per_case"),
        ]

    def __str__(self) -> str:
        return f"{self.case_id} → {self.new_deadline:%Y-%m-%d}"


class Notification(models.Model):
    """An in-app inbox message for a user about a step on a case."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="notifications")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="notifications")
    event = models.ForeignKey(CaseEvent, on_delete=models.CASCADE, null=True, blank=True,
                              related_name="+")
    text = models.CharField(max_length=300)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("站内消息")
        verbose_name_plural = _("站内消息")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "read_at", "created_at"], name="notif_user_unread")]

    def __str__(self) -> str:
        return self.text


class OutboundStatus(models.TextChoices):
    PENDING = "pending", _("待发送")
    SENT = "sent", _("已发送")
    FAILED = "failed", _("发送失败")


class OutboundMessage(models.Model):
    """An SMS / 企业微信 message: queued in the step's transaction, sent after commit, retried."""

    channel = models.CharField(max_length=10)  # "sms" | "wecom"
    recipient = models.CharField(max_length=100)
    text = models.CharField(max_length=300)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, null=True, blank=True,
                             related_name="outbound_messages")
    status = models.CharField(max_length=10, choices=OutboundStatus.choices,
                              default=OutboundStatus.PENDING, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("外发消息")
        verbose_name_plural = _("外发消息")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.channel}:{self.recipient} {self.status}"


class Open311Client(models.Model):
    """An outside system allowed to POST requests: its api_key is stored as a SHA-256 only."""

    name = models.CharField(_("系统名称"), max_length=100, unique=True)
    street = models.ForeignKey("core.OrgUnit", verbose_name=_("默认街道"), on_delete=models.PROTECT,
                               null=True, blank=True, related_name="+")
    key_prefix = models.CharField(max_length=8)
    key_digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("Open311 接入系统")
        verbose_name_plural = _("Open311 接入系统")

    def __str__(self) -> str:
        return self.name


class CaseSearchDoc(models.Model):
    """The case's searchable words as overlapping character pairs (see ``jiedao.cases.search``).

    SQLite indexes ``tokens`` in an FTS5 table kept in step by triggers; PostgreSQL in a GIN
    index over ``to_tsvector('simple', tokens)``. Both are created by migration 0003.

    It also keeps copies of the case's place, handling unit and intake time (``PLACE_FIELDS``),
    so that a search in a unit's scope is answered from the documents alone: each of the 5,000
    matches of "17号" was otherwise looked up by id on the case row to test the scope (40 of 65 ms
    on PostgreSQL at a million cases). They are written with the document, and kept in step by
    triggers on the case table (migration 0009) whatever changes the case — a dispatch, a
    re-dispatch, a queryset ``update``.
    """

    case = models.OneToOneField(Case, on_delete=models.CASCADE, primary_key=True, related_name="search_doc")
    tokens = models.TextField()
    street = models.ForeignKey("core.OrgUnit", on_delete=models.DO_NOTHING, db_constraint=False,
                               db_index=False, null=True, related_name="+")
    org_unit = models.ForeignKey("core.OrgUnit", on_delete=models.DO_NOTHING, db_constraint=False,
                                 db_index=False, null=True, related_name="+")
    handler_unit = models.ForeignKey("core.OrgUnit", on_delete=models.DO_NOTHING, db_constraint=False,
                                     db_index=False, null=True, related_name="+")
    created_at = models.DateTimeField(null=True)

    # The case's columns copied here, by the name they have on both models.
    PLACE_FIELDS = ("street_id", "org_unit_id", "handler_unit_id", "created_at")

    def __str__(self) -> str:
        return f"search doc of case {self.case_id}"


class PublicSubmission(models.Model):
    """One sending of the resident's form (``public.submit``): the one-time key the form page
    carried in a hidden field, and the case it registered. The same form sent again — a double
    tap, a resend after a dropped connection, the back button — finds its key here and is shown
    the case already registered instead of registering a second one. The key is unique, so two
    sendings racing each other register one case between them."""

    key = models.CharField(max_length=64, unique=True)
    case = models.OneToOneField(Case, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"public submission {self.key[:6]}… → case {self.case_id}"

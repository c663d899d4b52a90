"""Work records (domain.md §5): tallies, meetings, visits, relief, job fairs, insurance
enrolments, inspections, economic indicators and plan items.

Every record carries ``org_unit`` (the most specific unit it belongs to) so the access layer
scopes it like any other business record. Whatever is raised at a meeting, a visit or an
inspection becomes a Case through the case service; the link is kept here (the case app knows
nothing of meetings), and "solved" or "rectified" counts are read from those cases, never
typed in.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

QUANTITY = {"max_digits": 16, "decimal_places": 2}
MONEY = {"max_digits": 14, "decimal_places": 2}
FIGURE = {"max_digits": 18, "decimal_places": 4}


class Stamped(models.Model):
    org_unit = models.ForeignKey("core.OrgUnit", verbose_name=_("单位"), on_delete=models.PROTECT,
                                 related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("录入人"),
                                   on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    created_at = models.DateTimeField(_("录入时间"), auto_now_add=True)

    class Meta:
        abstract = True


# --- 工作量 ----------------------------------------------------------------------------

class ActivityType(models.Model):
    """A kind of countable work and its unit of measure (清理楼道杂物 / 处). Reference data
    shared by the whole deployment, configured by the system admin (Cap.CONFIG)."""

    name = models.CharField(_("工作类型"), max_length=60, unique=True)
    measure = models.CharField(_("计量单位"), max_length=10,
                               help_text=_("如 处、车、条、辆、平方米、份、场、人次、剂"))
    section = models.CharField(_("类别"), max_length=30, blank=True,
                               help_text=_("如 市容整治、河长制、疫情防控、安全生产"))
    sort = models.PositiveIntegerField(_("排序"), default=100)
    is_active = models.BooleanField(_("启用"), default=True)

    class Meta:
        verbose_name = _("工作量类型")
        verbose_name_plural = _("工作量类型")
        ordering = ["sort", "name"]

    def __str__(self) -> str:
        return f"{self.name}({self.measure})"


class Tally(Stamped):
    """On ``date`` the unit did ``quantity`` of ``activity``."""

    date = models.DateField(_("日期"))
    activity = models.ForeignKey(ActivityType, verbose_name=_("工作类型"), on_delete=models.PROTECT,
                                 related_name="tallies")
    quantity = models.DecimalField(_("数量"), **QUANTITY,
                                   validators=[MinValueValidator(Decimal("0"))])
    note = models.CharField(_("备注"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("工作量")
        verbose_name_plural = _("工作量")
        ordering = ["-date", "-pk"]
        indexes = [models.Index(fields=["date", "activity"])]

    def __str__(self) -> str:
        return f"{self.date} {self.activity.name} {self.quantity}{self.activity.measure}"


class TallyPhoto(models.Model):
    tally = models.ForeignKey(Tally, on_delete=models.CASCADE, related_name="photos")
    file = models.FileField(_("照片"), upload_to="records/photos/%Y/%m/")
    name = models.CharField(_("文件名"), max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("工作量照片")
        verbose_name_plural = _("工作量照片")


    def __str__(self) -> str:
        return self.name


# --- 会议 ------------------------------------------------------------------------------

class MeetingKind(models.TextChoices):
    ROUNDTABLE = "roundtable", _("幸福圆桌会")
    JOINT = "joint", _("联席会议")
    FOUR_PARTY = "four_party", _("四方议事")


class Party(models.TextChoices):
    COMMUNITY = "community", _("社区")
    PROPERTY = "property", _("物业企业")
    MERCHANT = "merchant", _("辖区商户")
    RESIDENT = "resident", _("居民代表")
    DEPARTMENT = "department", _("职能部门")
    OTHER = "other", _("其他")


class Meeting(Stamped):
    kind = models.CharField(_("会议类型"), max_length=16, choices=MeetingKind.choices)
    date = models.DateField(_("日期"))
    place = models.CharField(_("地点"), max_length=100)
    topic = models.CharField(_("议题"), max_length=200)
    minutes = models.TextField(_("会议纪要"), blank=True)

    class Meta:
        verbose_name = _("会议")
        verbose_name_plural = _("会议")
        ordering = ["-date", "-pk"]

    def __str__(self) -> str:
        return f"{self.date} {self.get_kind_display()} {self.topic}"


class MeetingAttendance(models.Model):
    """How many attended for one party, and who (names as given, masked on screen)."""

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="attendance")
    party = models.CharField(_("参会方"), max_length=16, choices=Party.choices)
    count = models.PositiveIntegerField(_("人数"))
    names = models.CharField(_("参会人"), max_length=300, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["meeting", "party"],
                                               name="records_attendance_party_once")]


    def __str__(self) -> str:
        return f"{self.get_party_display()} {self.count}"


class MeetingSuggestion(models.Model):
    """One suggestion raised at a meeting; handled as a ``suggestion`` case."""

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="suggestions")
    text = models.CharField(_("意见建议"), max_length=500)
    case = models.OneToOneField("cases.Case", verbose_name=_("工单"), on_delete=models.PROTECT,
                                related_name="meeting_suggestion")

    class Meta:
        ordering = ["pk"]


    def __str__(self) -> str:
        return self.text


# --- 走访认亲、慰问、招聘会、参保 -------------------------------------------------------

class VisitTarget(models.TextChoices):
    ENTERPRISE = "enterprise", _("企业")
    INDIVIDUAL = "individual", _("个体经营户")


class EnterpriseVisit(Stamped):
    """走访认亲: a cadre visits an enterprise or an individual business. Every visit is a row,
    so "1396家(含重复走访)" is the row count and the distinct count is computed beside it."""

    date = models.DateField(_("走访日期"))
    visitor = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("走访干部"),
                                on_delete=models.PROTECT, null=True, blank=True,
                                related_name="+")
    visitor_name = models.CharField(_("走访干部"), max_length=50)
    target_kind = models.CharField(_("对象类型"), max_length=16, choices=VisitTarget.choices)
    enterprise = models.ForeignKey("ledgers.Enterprise", verbose_name=_("企业"),
                                   on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+")
    target_name = models.CharField(_("对象名称"), max_length=200)
    note = models.TextField(_("走访情况"), blank=True)

    class Meta:
        verbose_name = _("走访认亲")
        verbose_name_plural = _("走访认亲")
        ordering = ["-date", "-pk"]

    def __str__(self) -> str:
        return f"{self.date} {self.visitor_name} → {self.target_name}"

    @property
    def target_key(self) -> str:
        return f"e{self.enterprise_id}" if self.enterprise_id else f"n{self.target_name}"


class VisitItemKind(models.TextChoices):
    DEMAND = "demand", _("诉求")
    SUGGESTION = "suggestion", _("建议")


class VisitItem(models.Model):
    """A demand or suggestion collected on a visit; handled as an ``enterprise_demand`` case."""

    visit = models.ForeignKey(EnterpriseVisit, on_delete=models.CASCADE, related_name="items")
    kind = models.CharField(_("类别"), max_length=16, choices=VisitItemKind.choices)
    text = models.CharField(_("内容"), max_length=500)
    case = models.OneToOneField("cases.Case", verbose_name=_("工单"), on_delete=models.PROTECT,
                                related_name="visit_item")

    class Meta:
        ordering = ["pk"]


    def __str__(self) -> str:
        return self.text


class KeyEnterprise(Stamped):
    """A leader's list of key enterprises to visit (街道领导走访认亲重点规上企业)."""

    year = models.PositiveIntegerField(_("年度"))
    leader = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("联系领导"),
                               on_delete=models.PROTECT, related_name="+")
    enterprise = models.ForeignKey("ledgers.Enterprise", verbose_name=_("企业"),
                                   on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("重点企业联系")
        verbose_name_plural = _("重点企业联系")
        constraints = [models.UniqueConstraint(fields=["year", "leader", "enterprise"],
                                               name="records_key_enterprise_once")]


    def __str__(self) -> str:
        return f"{self.year} {self.leader} {self.enterprise}"


class ReliefGroup(models.TextChoices):
    DIBAO = "dibao", _("低保户")
    DIBAO_EDGE = "dibao_edge", _("低保边缘户")
    HARDSHIP_WORKER = "hardship_worker", _("困难职工")
    HARDSHIP_RESIDENT = "hardship_resident", _("困难居民")
    OTHER = "other", _("其他")


class ReliefVisit(Stamped):
    """慰问: one household visited, with the amount handed over (yuan)."""

    date = models.DateField(_("慰问日期"))
    occasion = models.CharField(_("慰问活动"), max_length=100, blank=True,
                                help_text=_("如 2021年春节慰问"))
    household = models.CharField(_("户主"), max_length=50)
    resident = models.ForeignKey("ledgers.Resident", verbose_name=_("服务对象"),
                                 on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="+")
    group = models.CharField(_("对象类别"), max_length=20, choices=ReliefGroup.choices)
    amount = models.DecimalField(_("慰问金(元)"), **MONEY,
                                 validators=[MinValueValidator(Decimal("0"))])
    note = models.CharField(_("备注"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("走访慰问")
        verbose_name_plural = _("走访慰问")
        ordering = ["-date", "-pk"]


    def __str__(self) -> str:
        return f"{self.date} {self.get_group_display()} {self.amount}元"


class JobFair(Stamped):
    date = models.DateField(_("日期"))
    title = models.CharField(_("名称"), max_length=100)
    positions = models.PositiveIntegerField(_("提供岗位(个)"))
    placed = models.PositiveIntegerField(_("安置人员(人)"), default=0)
    note = models.CharField(_("备注"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("招聘会")
        verbose_name_plural = _("招聘会")
        ordering = ["-date", "-pk"]


    def __str__(self) -> str:
        return f"{self.date} {self.title}"


class InsuranceKind(models.TextChoices):
    MEDICAL = "medical", _("城镇居民基本医疗保险")
    PENSION = "pension", _("城镇居民养老保险")
    MATERNITY = "maternity", _("生育服务卡、生育证")


class InsuranceEnrolment(Stamped):
    """Enrolment figures as of a date: total on the books and how many of them are new."""

    as_of = models.DateField(_("截至日期"))
    kind = models.CharField(_("险种/事项"), max_length=16, choices=InsuranceKind.choices)
    total = models.PositiveIntegerField(_("累计(人/例)"))
    new = models.PositiveIntegerField(_("其中新增"), default=0)

    class Meta:
        verbose_name = _("参保办理")
        verbose_name_plural = _("参保办理")
        ordering = ["-as_of", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["org_unit", "as_of", "kind"],
                                    name="records_insurance_once"),
            models.CheckConstraint(condition=models.Q(new__lte=models.F("total")),
                                   name="records_insurance_new_le_total"),
        ]


    def __str__(self) -> str:
        return f"{self.as_of} {self.get_kind_display()} {self.total}"


# --- 排查 ------------------------------------------------------------------------------

class InspectionKind(models.TextChoices):
    FIRE = "fire", _("消防")
    SAFETY = "safety", _("安全生产")


class PremisesKind(models.TextChoices):
    WAREHOUSE = "warehouse", _("仓库")
    SHOP = "shop", _("店铺")
    ENTERPRISE = "enterprise", _("企业、公司")
    BUILDING_UNIT = "building_unit", _("单元楼栋")


class Inspection(Stamped):
    """One inspection of one premises (repeat inspections are separate rows)."""

    date = models.DateField(_("排查日期"))
    kind = models.CharField(_("排查类型"), max_length=16, choices=InspectionKind.choices)
    premises_kind = models.CharField(_("场所类型"), max_length=16, choices=PremisesKind.choices)
    premises = models.CharField(_("场所名称"), max_length=200)
    enterprise = models.ForeignKey("ledgers.Enterprise", verbose_name=_("企业"),
                                   on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+")
    building = models.ForeignKey("ledgers.Building", verbose_name=_("楼宇"),
                                 on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="+")
    inspectors = models.PositiveIntegerField(_("出动人次"), default=1)
    note = models.TextField(_("排查情况"), blank=True)

    class Meta:
        verbose_name = _("消防安全排查")
        verbose_name_plural = _("消防安全排查")
        ordering = ["-date", "-pk"]

    def __str__(self) -> str:
        return f"{self.date} {self.premises}"


class InspectionHazard(models.Model):
    """A hazard found on an inspection; rectified through its ``hazard`` case."""

    inspection = models.ForeignKey(Inspection, on_delete=models.CASCADE, related_name="hazards")
    text = models.CharField(_("隐患描述"), max_length=500)
    case = models.OneToOneField("cases.Case", verbose_name=_("工单"), on_delete=models.PROTECT,
                                related_name="inspection_hazard")

    class Meta:
        ordering = ["pk"]


    def __str__(self) -> str:
        return self.text


# --- 经济指标 --------------------------------------------------------------------------

class IndicatorUnit(models.TextChoices):
    WAN_YUAN = "万元", _("万元")
    YI_YUAN = "亿元", _("亿元")
    WAN_USD = "万美元", _("万美元")
    COUNT = "家", _("家")


class Indicator(models.Model):
    """An economic indicator reported monthly by the district statistics office."""

    code = models.SlugField(_("代码"), max_length=40, unique=True)
    name = models.CharField(_("指标名称"), max_length=60, unique=True)
    unit = models.CharField(_("计量单位"), max_length=8, choices=IndicatorUnit.choices)
    cumulative = models.BooleanField(
        _("按月累计"), default=True,
        help_text=_("是:每月报 1–N 月累计数;否:每月报月末时点数"))
    sort = models.PositiveIntegerField(_("排序"), default=100)
    is_active = models.BooleanField(_("启用"), default=True)

    class Meta:
        verbose_name = _("经济指标")
        verbose_name_plural = _("经济指标")
        ordering = ["sort", "name"]

    def __str__(self) -> str:
        return f"{self.name}({self.unit})"


class IndicatorTarget(models.Model):
    """The annual target of one indicator for one street."""

    indicator = models.ForeignKey(Indicator, on_delete=models.PROTECT, related_name="targets")
    org_unit = models.ForeignKey("core.OrgUnit", verbose_name=_("街道"), on_delete=models.PROTECT,
                                 related_name="+")
    year = models.PositiveIntegerField(_("年度"), validators=[MinValueValidator(2000),
                                                              MaxValueValidator(2100)])
    target = models.DecimalField(_("年度目标"), **FIGURE,
                                 validators=[MinValueValidator(Decimal("0"))])
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("指标年度目标")
        verbose_name_plural = _("指标年度目标")
        constraints = [models.UniqueConstraint(fields=["indicator", "org_unit", "year"],
                                               name="records_target_once")]


    def __str__(self) -> str:
        return f"{self.indicator.name} {self.year} {self.target}"


class IndicatorValue(models.Model):
    """The reported figure of one indicator for one street in one month: the cumulative
    total for months 1–N of the year (or the month-end figure when not cumulative)."""

    indicator = models.ForeignKey(Indicator, on_delete=models.PROTECT, related_name="values")
    org_unit = models.ForeignKey("core.OrgUnit", verbose_name=_("街道"), on_delete=models.PROTECT,
                                 related_name="+")
    year = models.PositiveIntegerField(_("年度"), validators=[MinValueValidator(2000),
                                                              MaxValueValidator(2100)])
    month = models.PositiveSmallIntegerField(_("月份"), validators=[MinValueValidator(1),
                                                                    MaxValueValidator(12)])
    actual = models.DecimalField(_("累计完成"), **FIGURE)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("指标月度数据")
        verbose_name_plural = _("指标月度数据")
        ordering = ["indicator", "org_unit", "year", "month"]
        constraints = [models.UniqueConstraint(fields=["indicator", "org_unit", "year", "month"],
                                               name="records_value_once")]


    def __str__(self) -> str:
        return f"{self.indicator.name} {self.year}-{self.month} {self.actual}"


# --- 工作计划 --------------------------------------------------------------------------

class PlanStatus(models.TextChoices):
    PLANNED = "planned", _("未开始")
    IN_PROGRESS = "in_progress", _("推进中")
    DONE = "done", _("已完成")
    DROPPED = "dropped", _("已调整")


class PlanItem(Stamped):
    """One commitment of next year's plan; linked to what measures it, when something does."""

    year = models.PositiveIntegerField(_("计划年度"))
    section = models.CharField(_("板块"), max_length=60)
    text = models.TextField(_("工作内容"))
    owner = models.CharField(_("责任人/责任科室"), max_length=100)
    measures = models.TextField(_("措施"), blank=True)
    status = models.CharField(_("状态"), max_length=16, choices=PlanStatus.choices,
                              default=PlanStatus.PLANNED)
    indicator = models.ForeignKey(Indicator, verbose_name=_("关联指标"), on_delete=models.PROTECT,
                                  null=True, blank=True, related_name="plan_items")
    category = models.ForeignKey("cases.Category", verbose_name=_("关联工单类别"),
                                 on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="+")
    sort = models.PositiveIntegerField(_("排序"), default=100)

    class Meta:
        verbose_name = _("工作计划")
        verbose_name_plural = _("工作计划")
        ordering = ["year", "sort", "pk"]

    def __str__(self) -> str:
        return f"{self.year} {self.section}"

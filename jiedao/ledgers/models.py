"""The ledgers (台账) the office keeps, each importable from and exportable to .xlsx.

Every ledger row carries an ``org_unit`` (the most specific unit it belongs to) so the access
helpers scope it, and an ``archived_at``: archiving hides a row from the lists and frees its
natural key (an archived resident's ID number may be registered again) without deleting history.
Money and quantities are Decimal; investments are stored in 万元 and shown in 亿元 where useful.
"""

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

ACTIVE = Q(archived_at__isnull=True)


class LedgerRecord(models.Model):
    org_unit = models.ForeignKey(
        "core.OrgUnit", verbose_name=_("所属单位"), on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)
    archived_at = models.DateTimeField(_("归档时间"), null=True, blank=True, db_index=True)

    class Meta:
        abstract = True

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None


# --- residents / service objects ------------------------------------------------------------
class Gender(models.TextChoices):
    MALE = "male", _("男")
    FEMALE = "female", _("女")


class PopulationGroup(models.TextChoices):
    EMPLOYED = "employed", _("在职人群")
    YOUTH = "youth", _("青少年")
    NEEDY = "needy", _("困难群众")
    ELDERLY_80 = "elderly_80", _("80岁以上户籍老人")
    DISABLED = "disabled", _("残疾人")
    EMPTY_NESTER = "empty_nester", _("空巢独居老人")
    VETERAN = "veteran", _("退役军人")
    PARTY_MEMBER = "party_member", _("党员")
    FLOATING = "floating", _("流动人口")


class Resident(LedgerRecord):
    name = models.CharField(_("姓名"), max_length=50)
    id_number = models.CharField(_("公民身份号码"), max_length=18, db_index=True)
    phone = models.CharField(_("手机号"), max_length=20, blank=True)
    # Derived from the ID number by the services; stored so lists can filter by age.
    gender = models.CharField(_("性别"), max_length=8, choices=Gender.choices, blank=True)
    birth_date = models.DateField(_("出生日期"), null=True, blank=True)
    address = models.CharField(_("住址"), max_length=200, blank=True)
    notes = models.TextField(_("备注"), blank=True)

    class Meta:
        verbose_name = _("服务对象")
        verbose_name_plural = _("服务对象")
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(fields=["id_number"], condition=ACTIVE, name="resident_id_active_unique"),
        ]

    def __str__(self) -> str:
        from jiedao.core.masking import mask_name

        return mask_name(self.name)

    def age_on(self, day: dt.date) -> int | None:
        if not self.birth_date:
            return None
        b = self.birth_date
        return day.year - b.year - ((day.month, day.day) < (b.month, b.day))

    @property
    def group_codes(self) -> list[str]:
        return [m.group for m in self.memberships.all()]


class ResidentGroup(models.Model):
    """A resident's membership in a population group (several per resident)."""

    resident = models.ForeignKey(Resident, on_delete=models.CASCADE, related_name="memberships")
    group = models.CharField(_("人群类别"), max_length=20, choices=PopulationGroup.choices)

    class Meta:
        verbose_name = _("人群类别")
        verbose_name_plural = _("人群类别")
        constraints = [models.UniqueConstraint(fields=["resident", "group"], name="resident_group_unique")]

    def __str__(self) -> str:
        return self.get_group_display()


class HealthArchive(models.Model):
    """健康档案 — sensitive: only REVEAL_PERSONAL holders see it, and each reading is audited."""

    resident = models.OneToOneField(Resident, on_delete=models.CASCADE, related_name="health_archive")
    blood_type = models.CharField(_("血型"), max_length=8, blank=True)
    chronic_conditions = models.TextField(_("慢性病"), blank=True)
    disability = models.CharField(_("残疾情况"), max_length=100, blank=True)
    allergies = models.CharField(_("过敏史"), max_length=200, blank=True)
    family_doctor = models.CharField(_("家庭医生"), max_length=50, blank=True)
    last_checkup = models.DateField(_("最近体检日期"), null=True, blank=True)
    notes = models.TextField(_("备注"), blank=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("健康档案")
        verbose_name_plural = _("健康档案")

    def __str__(self) -> str:
        return str(_("健康档案"))


class ServiceAgreement(models.Model):
    """服务协议 between a resident and a provider."""

    resident = models.ForeignKey(Resident, on_delete=models.CASCADE, related_name="agreements")
    provider = models.CharField(_("服务提供方"), max_length=100)
    services = models.CharField(_("服务内容"), max_length=300)
    signed_on = models.DateField(_("签订日期"))
    start_date = models.DateField(_("开始日期"))
    end_date = models.DateField(_("结束日期"), null=True, blank=True)
    notes = models.TextField(_("备注"), blank=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("服务协议")
        verbose_name_plural = _("服务协议")
        ordering = ["-signed_on", "pk"]

    def __str__(self) -> str:
        return f"{self.provider} {self.signed_on}"


# --- buildings and enterprises --------------------------------------------------------------
class BuildingStatus(models.TextChoices):
    FORMED = "formed", _("已成型")
    FORMING = "forming", _("正在形成")
    UNDER_CONSTRUCTION = "under_construction", _("开发建设中")


class Building(LedgerRecord):
    """楼宇 (building economy)."""

    name = models.CharField(_("楼宇名称"), max_length=100)
    status = models.CharField(_("状态"), max_length=24, choices=BuildingStatus.choices)
    address = models.CharField(_("地址"), max_length=200, blank=True)
    floor_area = models.DecimalField(
        _("建筑面积(平方米)"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    notes = models.TextField(_("备注"), blank=True)

    class Meta:
        verbose_name = _("楼宇")
        verbose_name_plural = _("楼宇")
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["name"], condition=ACTIVE, name="building_name_active_unique"),
        ]

    def __str__(self) -> str:
        return self.name


class EnterpriseKind(models.TextChoices):
    REGISTERED = "registered", _("注册企业")
    INDIVIDUAL = "individual", _("个体经营户")


class Sector(models.TextChoices):
    CONSTRUCTION = "construction", _("建筑业")
    SERVICES = "services", _("服务业")
    REAL_ESTATE = "real_estate", _("房地产")
    TRADE = "trade", _("财贸")
    INDUSTRY = "industry", _("工业")
    CATERING = "catering", _("住宿餐饮")
    OTHER = "other", _("其他")


class Enterprise(LedgerRecord):
    name = models.CharField(_("名称"), max_length=150)
    credit_code = models.CharField(_("统一社会信用代码"), max_length=18, db_index=True)
    # A code failing the GB 32100 check digit can be kept by an audited override (old paper records).
    credit_code_override = models.BooleanField(_("信用代码校验豁免"), default=False)
    credit_code_override_reason = models.CharField(_("豁免理由"), max_length=200, blank=True)
    kind = models.CharField(_("类型"), max_length=16, choices=EnterpriseKind.choices)
    sector = models.CharField(_("行业"), max_length=16, choices=Sector.choices)
    online_direct_report = models.BooleanField(_("联网直报"), default=False)
    above_scale = models.BooleanField(_("规上"), default=False)
    above_quota = models.BooleanField(_("限上"), default=False)
    building = models.ForeignKey(
        Building,
        verbose_name=_("所在楼宇"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="tenants",
    )
    address = models.CharField(_("地址"), max_length=200, blank=True)
    contact_name = models.CharField(_("联系人"), max_length=50, blank=True)
    contact_phone = models.CharField(_("联系电话"), max_length=20, blank=True)
    notes = models.TextField(_("备注"), blank=True)

    class Meta:
        verbose_name = _("企业")
        verbose_name_plural = _("企业")
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["credit_code"], condition=ACTIVE, name="enterprise_code_active_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.name


# --- projects -------------------------------------------------------------------------------
class ProjectKind(models.TextChoices):
    MAJOR = "major", _("重大项目")
    RENOVATION = "renovation", _("老旧小区改造")


class Project(LedgerRecord):
    name = models.CharField(_("项目名称"), max_length=150)
    kind = models.CharField(_("类型"), max_length=16, choices=ProjectKind.choices)
    year = models.PositiveSmallIntegerField(_("年度"))
    planned_investment = models.DecimalField(
        _("年度计划投资(万元)"), max_digits=14, decimal_places=2, default=Decimal("0")
    )
    owner = models.CharField(_("建设单位"), max_length=150, blank=True)
    notes = models.TextField(_("备注"), blank=True)

    class Meta:
        verbose_name = _("项目")
        verbose_name_plural = _("项目")
        ordering = ["-year", "name", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["name", "year"], condition=ACTIVE, name="project_name_year_active_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name}({self.year})"

    @property
    def completed_investment(self) -> Decimal:
        """Investment completed in the project's year (万元), from the monthly entries."""
        return sum((i.amount for i in self.investments.all() if i.month.year == self.year), Decimal("0"))

    @property
    def progress_percent(self) -> Decimal | None:
        if not self.planned_investment:
            return None
        return (self.completed_investment * 100 / self.planned_investment).quantize(Decimal("0.1"))


class ProjectInvestment(models.Model):
    """The investment completed in one month (万元)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="investments")
    month = models.DateField(_("月份"), help_text=_("当月第一天"))
    amount = models.DecimalField(_("完成投资(万元)"), max_digits=14, decimal_places=2)

    class Meta:
        verbose_name = _("月度投资")
        verbose_name_plural = _("月度投资")
        ordering = ["month"]
        constraints = [models.UniqueConstraint(fields=["project", "month"], name="investment_month_unique")]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.amount}"


class MilestoneKind(models.TextChoices):
    STARTED = "started", _("新开工")
    TOPPED_OUT = "topped_out", _("封顶")
    ACCEPTED = "accepted", _("竣工验收")
    DELIVERED = "delivered", _("交付")


class ProjectMilestone(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="milestones")
    kind = models.CharField(_("节点"), max_length=16, choices=MilestoneKind.choices)
    planned_date = models.DateField(_("计划日期"), null=True, blank=True)
    actual_date = models.DateField(_("实际日期"), null=True, blank=True)

    class Meta:
        verbose_name = _("项目节点")
        verbose_name_plural = _("项目节点")
        ordering = ["project", "kind"]
        constraints = [models.UniqueConstraint(fields=["project", "kind"], name="milestone_kind_unique")]

    def __str__(self) -> str:
        return self.get_kind_display()


# --- relocation -----------------------------------------------------------------------------
class RelocationPlot(LedgerRecord):
    """征收拆迁 plot, e.g. CY203-B07."""

    code = models.CharField(_("地块编号"), max_length=30)
    name = models.CharField(_("地块名称"), max_length=100, blank=True)
    notes = models.TextField(_("备注"), blank=True)

    class Meta:
        verbose_name = _("征收地块")
        verbose_name_plural = _("征收地块")
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["code"], condition=ACTIVE, name="plot_code_active_unique"),
        ]

    def __str__(self) -> str:
        return self.code


class CertificateType(models.TextChoices):
    CITY = "city", _("市证")
    FARM = "farm", _("场证")
    PUBLIC_PURCHASE = "public_purchase", _("公购")
    ERECTED = "erected", _("搭建")
    UNCERTAIN = "uncertain", _("难以认定")


class CompensationMethod(models.TextChoices):
    MARKET = "market", _("市场评估价")
    REPLACEMENT = "replacement", _("重置价")
    IN_KIND = "in_kind", _("实物安置")


class RelocationStage(models.TextChoices):
    ASSESSED = "assessed", _("认定")
    CHOOSING = "choosing", _("选房")
    SIGNED = "signed", _("签约")
    SETTLED = "settled", _("结算")
    RETURNED = "returned", _("回迁")


STAGE_ORDER = [s.value for s in RelocationStage]


class RelocationHousehold(LedgerRecord):
    plot = models.ForeignKey(
        RelocationPlot, verbose_name=_("地块"), on_delete=models.PROTECT, related_name="households"
    )
    household_no = models.CharField(_("户号"), max_length=30)
    head_name = models.CharField(_("户主姓名"), max_length=50)
    id_number = models.CharField(_("户主身份号码"), max_length=18, blank=True)
    phone = models.CharField(_("联系电话"), max_length=20, blank=True)
    address = models.CharField(_("房屋坐落"), max_length=200, blank=True)
    certificate_type = models.CharField(_("产权证类型"), max_length=20, choices=CertificateType.choices)
    area = models.DecimalField(_("面积(平方米)"), max_digits=10, decimal_places=2)
    compensation_method = models.CharField(
        _("补偿方式"), max_length=16, choices=CompensationMethod.choices, blank=True
    )
    stage = models.CharField(
        _("阶段"), max_length=16, choices=RelocationStage.choices, default=RelocationStage.ASSESSED
    )
    blockers = models.TextField(_("难点问题"), blank=True)

    class Meta:
        verbose_name = _("征收户")
        verbose_name_plural = _("征收户")
        ordering = ["plot", "household_no"]
        constraints = [
            models.UniqueConstraint(
                fields=["plot", "household_no"], condition=ACTIVE, name="household_no_active_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.plot.code}-{self.household_no}"


# --- integrity archives (discipline role only) ----------------------------------------------
class IntegrityArchive(models.Model):
    """廉政档案: one per cadre, "一人一档、全程留痕、动态管理"."""

    cadre = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("干部"),
        on_delete=models.PROTECT,
        related_name="integrity_archive",
    )
    org_unit = models.ForeignKey(
        "core.OrgUnit", verbose_name=_("所属单位"), on_delete=models.PROTECT, related_name="+"
    )
    position = models.CharField(_("职务"), max_length=100, blank=True)
    created_at = models.DateTimeField(_("建档时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)
    archived_at = models.DateTimeField(_("归档时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("廉政档案")
        verbose_name_plural = _("廉政档案")
        ordering = ["pk"]

    def __str__(self) -> str:
        return str(self.cadre)


class IntegrityEntryKind(models.TextChoices):
    STUDY = "study", _("廉政学习")
    TALK_REMINDER = "talk_reminder", _("提醒谈话")
    TALK_INQUIRY = "talk_inquiry", _("函询谈话")
    TALK_ADMONITION = "talk_admonition", _("诫勉谈话")
    CRITICISM = "criticism", _("通报批评")
    WARNING = "warning", _("警告")
    DEMERIT = "demerit", _("记过")
    DISMISSAL = "dismissal", _("开除")
    DECLARATION = "declaration", _("个人有关事项报告")


class IntegrityEntry(models.Model):
    archive = models.ForeignKey(IntegrityArchive, on_delete=models.CASCADE, related_name="entries")
    kind = models.CharField(_("类别"), max_length=20, choices=IntegrityEntryKind.choices)
    date = models.DateField(_("日期"))
    title = models.CharField(_("事项"), max_length=200)
    content = models.TextField(_("内容"), blank=True)
    document = models.FileField(_("文件"), upload_to="integrity/%Y/", blank=True)
    created_at = models.DateTimeField(_("登记时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("廉政档案条目")
        verbose_name_plural = _("廉政档案条目")
        ordering = ["-date", "-pk"]

    def __str__(self) -> str:
        return f"{self.date} {self.get_kind_display()}"


# --- import runs ----------------------------------------------------------------------------
class ImportStatus(models.TextChoices):
    UPLOADED = "uploaded", _("已上传")
    CHECKING = "checking", _("校验中")
    CHECKED = "checked", _("待确认")
    REFUSED = "refused", _("有错误")
    IMPORTING = "importing", _("导入中")
    DONE = "done", _("已完成")
    FAILED = "failed", _("失败")


class ImportRun(models.Model):
    """One uploaded file, its check, its preview and its (all-or-nothing) import; the page polls it."""

    ledger = models.CharField(_("台账"), max_length=20)
    org_unit = models.ForeignKey(
        "core.OrgUnit", verbose_name=_("导入到"), on_delete=models.PROTECT, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    file = models.FileField(upload_to="ledger-imports/%Y/%m/")
    filename = models.CharField(_("文件名"), max_length=200)
    status = models.CharField(
        _("状态"), max_length=16, choices=ImportStatus.choices, default=ImportStatus.UPLOADED
    )
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    unchanged_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)  # first errors for the page; full list in the report
    preview = models.JSONField(default=list, blank=True)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("导入记录")
        verbose_name_plural = _("导入记录")
        ordering = ["-pk"]

    def __str__(self) -> str:
        return f"{self.ledger} {self.filename}"

    @property
    def percent(self) -> int:
        if not self.total_rows:
            return 0 if self.status in (ImportStatus.UPLOADED, ImportStatus.CHECKING) else 100
        return min(100, int(self.processed_rows * 100 / self.total_rows))

"""Forms of the work-record pages. They only collect and check input; services write."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from jiedao.accounts.access import units_in_scope
from jiedao.accounts.roles import Cap
from jiedao.core.models import OrgUnit

from .models import (
    ActivityType,
    Indicator,
    InspectionKind,
    InsuranceKind,
    MeetingKind,
    Party,
    PlanItem,
    PlanStatus,
    PremisesKind,
    ReliefGroup,
    VisitTarget,
)


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%d")


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": "image/*"}))
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, (list, tuple)):
            return [single(d, initial) for d in data if d]
        return [single(data, initial)] if data else []


class UnitChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: OrgUnit) -> str:
        return f"{obj.name}({obj.get_kind_display()})"


class UnitForm(forms.Form):
    """A form whose first field is the unit the record belongs to, limited to where the user
    may write."""

    org_unit = UnitChoiceField(label=_("单位"), queryset=OrgUnit.objects.none())

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        units = units_in_scope(user, Cap.BUSINESS_WRITE)
        self.fields["org_unit"].queryset = units
        if user.home_unit_id and units.filter(pk=user.home_unit_id).exists():
            self.fields["org_unit"].initial = user.home_unit_id


def _today():
    return timezone.localdate()


class TallyForm(UnitForm):
    date = forms.DateField(label=_("日期"), widget=DateInput(), initial=_today)
    activity = forms.ModelChoiceField(label=_("工作类型"),
                                      queryset=ActivityType.objects.filter(is_active=True))
    quantity = forms.DecimalField(label=_("数量"), min_value=Decimal(0), max_digits=16,
                                  decimal_places=2)
    note = forms.CharField(label=_("备注"), max_length=500, required=False)
    photos = MultipleFileField(label=_("照片"))


class ImportForm(forms.Form):
    file = forms.FileField(label=_("Excel 文件(.xlsx)"),
                           widget=forms.ClearableFileInput(attrs={"accept": ".xlsx"}))


def _party_fields():
    fields = {}
    for party in Party:
        fields[f"count_{party.value}"] = forms.IntegerField(
            label=_("%(p)s人数") % {"p": party.label}, min_value=0, required=False)
        fields[f"names_{party.value}"] = forms.CharField(
            label=_("%(p)s参会人") % {"p": party.label}, max_length=300, required=False)
    return fields


class MeetingForm(UnitForm):
    kind = forms.ChoiceField(label=_("会议类型"), choices=MeetingKind.choices)
    date = forms.DateField(label=_("日期"), widget=DateInput(), initial=_today)
    place = forms.CharField(label=_("地点"), max_length=100)
    topic = forms.CharField(label=_("议题"), max_length=200)
    minutes = forms.CharField(label=_("会议纪要"), widget=forms.Textarea(attrs={"rows": 4}),
                              required=False)
    suggestions = forms.CharField(
        label=_("意见建议"), required=False, widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("每行一条;每条生成一张“意见建议”工单进入办理流程"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields.update(_party_fields())

    def party_rows(self):
        return [(party, self[f"count_{party.value}"], self[f"names_{party.value}"])
                for party in Party]

    def attendance(self) -> dict[str, tuple[int, str]]:
        data = self.cleaned_data
        return {p.value: (data.get(f"count_{p.value}") or 0, data.get(f"names_{p.value}") or "")
                for p in Party}

    def clean(self):
        data = super().clean()
        if not any(data.get(f"count_{p.value}") for p in Party):
            raise forms.ValidationError(_("请至少填写一方的参会人数"))
        return data


class SuggestionForm(forms.Form):
    text = forms.CharField(label=_("意见建议"), max_length=500)


class VisitForm(UnitForm):
    date = forms.DateField(label=_("走访日期"), widget=DateInput(), initial=_today)
    visitor_name = forms.CharField(label=_("走访干部"), max_length=50)
    target_kind = forms.ChoiceField(label=_("对象类型"), choices=VisitTarget.choices)
    enterprise = forms.ModelChoiceField(label=_("企业(台账)"), queryset=None, required=False)
    target_name = forms.CharField(label=_("对象名称"), max_length=200, required=False,
                                  help_text=_("未在企业台账中的个体户等,填写名称"))
    note = forms.CharField(label=_("走访情况"), widget=forms.Textarea(attrs={"rows": 3}),
                           required=False)
    demands = forms.CharField(label=_("企业诉求"), widget=forms.Textarea(attrs={"rows": 3}),
                              required=False, help_text=_("每行一条;每条生成一张“企业诉求”工单"))
    suggestions = forms.CharField(label=_("企业建议"), widget=forms.Textarea(attrs={"rows": 2}),
                                  required=False, help_text=_("每行一条;同样进入工单办理"))

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, user=user, **kwargs)
        from jiedao.accounts.access import scoped
        from jiedao.ledgers.models import Enterprise

        self.fields["enterprise"].queryset = scoped(
            Enterprise.objects.filter(archived_at__isnull=True), user, Cap.BUSINESS_READ)
        self.fields["visitor_name"].initial = user.full_name or user.username

    def clean(self):
        data = super().clean()
        if not data.get("enterprise") and not (data.get("target_name") or "").strip():
            self.add_error("target_name", _("请选择企业或填写对象名称"))
        return data


class KeyEnterpriseForm(UnitForm):
    year = forms.IntegerField(label=_("年度"), min_value=2000, max_value=2100,
                              initial=lambda: timezone.localdate().year)
    leader = forms.ModelChoiceField(label=_("联系领导"), queryset=None)
    enterprise = forms.ModelChoiceField(label=_("企业"), queryset=None)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, user=user, **kwargs)
        from jiedao.accounts.access import scoped
        from jiedao.accounts.models import User
        from jiedao.accounts.roles import Role
        from jiedao.ledgers.models import Enterprise

        streets = {u.street.pk for u in units_in_scope(user, Cap.BUSINESS_WRITE) if u.street}
        self.fields["leader"].queryset = User.objects.filter(
            memberships__role=Role.LEADER, memberships__unit_id__in=streets).distinct()
        self.fields["enterprise"].queryset = scoped(
            Enterprise.objects.filter(archived_at__isnull=True, kind="registered"), user,
            Cap.BUSINESS_READ)


class ReliefForm(UnitForm):
    date = forms.DateField(label=_("慰问日期"), widget=DateInput(), initial=_today)
    occasion = forms.CharField(label=_("慰问活动"), max_length=100, required=False)
    household = forms.CharField(label=_("户主"), max_length=50)
    group = forms.ChoiceField(label=_("对象类别"), choices=ReliefGroup.choices)
    amount = forms.DecimalField(label=_("慰问金(元)"), min_value=Decimal(0), max_digits=14,
                                decimal_places=2)
    note = forms.CharField(label=_("备注"), max_length=300, required=False)


class JobFairForm(UnitForm):
    date = forms.DateField(label=_("日期"), widget=DateInput(), initial=_today)
    title = forms.CharField(label=_("名称"), max_length=100)
    positions = forms.IntegerField(label=_("提供岗位(个)"), min_value=0)
    placed = forms.IntegerField(label=_("安置人员(人)"), min_value=0, initial=0)
    note = forms.CharField(label=_("备注"), max_length=300, required=False)


class InsuranceForm(UnitForm):
    as_of = forms.DateField(label=_("截至日期"), widget=DateInput(), initial=_today)
    kind = forms.ChoiceField(label=_("险种/事项"), choices=InsuranceKind.choices)
    total = forms.IntegerField(label=_("累计(人/例)"), min_value=0)
    new = forms.IntegerField(label=_("其中新增"), min_value=0, initial=0)

    def clean(self):
        data = super().clean()
        if (data.get("new") or 0) > (data.get("total") or 0):
            self.add_error("new", _("新增人数不能大于累计人数"))
        return data


class InspectionForm(UnitForm):
    date = forms.DateField(label=_("排查日期"), widget=DateInput(), initial=_today)
    kind = forms.ChoiceField(label=_("排查类型"), choices=InspectionKind.choices)
    premises_kind = forms.ChoiceField(label=_("场所类型"), choices=PremisesKind.choices)
    premises = forms.CharField(label=_("场所名称"), max_length=200)
    enterprise = forms.ModelChoiceField(label=_("企业(台账,可选)"), queryset=None, required=False)
    building = forms.ModelChoiceField(label=_("楼宇(台账,可选)"), queryset=None, required=False)
    inspectors = forms.IntegerField(label=_("出动人次"), min_value=1, initial=1)
    note = forms.CharField(label=_("排查情况"), widget=forms.Textarea(attrs={"rows": 3}),
                           required=False)
    hazards = forms.CharField(label=_("发现隐患"), widget=forms.Textarea(attrs={"rows": 3}),
                              required=False,
                              help_text=_("每行一处;每处生成一张“安全隐患”工单,整改到位后计为已整改"))
    photos = MultipleFileField(label=_("隐患照片(整改前)"),
                               help_text=_("附在第一处隐患的工单上;其余隐患可在详情页逐条上传"))

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, user=user, **kwargs)
        from jiedao.accounts.access import scoped
        from jiedao.ledgers.models import Building, Enterprise

        for name, model in (("enterprise", Enterprise), ("building", Building)):
            self.fields[name].queryset = scoped(model.objects.filter(archived_at__isnull=True),
                                                user, Cap.BUSINESS_READ)


class HazardForm(forms.Form):
    text = forms.CharField(label=_("隐患描述"), max_length=500)
    photos = MultipleFileField(label=_("照片(整改前)"))


class PlanItemForm(forms.ModelForm):
    class Meta:
        model = PlanItem
        fields = ["org_unit", "year", "section", "sort", "text", "owner", "measures", "status",
                  "indicator", "category"]
        widgets = {"text": forms.Textarea(attrs={"rows": 3}),
                   "measures": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["org_unit"].queryset = units_in_scope(user, Cap.BUSINESS_WRITE)
        self.fields["indicator"].queryset = Indicator.objects.filter(is_active=True)
        self.fields["status"].choices = PlanStatus.choices
        if self.instance.pk:
            self.fields["org_unit"].disabled = True


class IndicatorEntryForm(forms.Form):
    indicator = forms.ModelChoiceField(label=_("指标"), queryset=Indicator.objects.filter(
        is_active=True))
    street = forms.ModelChoiceField(label=_("街道"), queryset=OrgUnit.objects.none())
    year = forms.IntegerField(label=_("年度"), min_value=2000, max_value=2100)
    month = forms.TypedChoiceField(label=_("月份"), coerce=int,
                                   choices=[(m, f"{m}月") for m in range(1, 13)])
    actual = forms.DecimalField(label=_("1–N月累计完成"), min_value=Decimal(0), max_digits=18,
                                decimal_places=4, required=False)
    target = forms.DecimalField(label=_("年度目标"), min_value=Decimal(0), max_digits=18,
                                decimal_places=4, required=False,
                                help_text=_("留空则不修改已有目标"))

    def __init__(self, *args, streets, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["street"].queryset = OrgUnit.objects.filter(pk__in=[s.pk for s in streets])

    def clean(self):
        data = super().clean()
        if data.get("actual") is None and data.get("target") is None:
            raise forms.ValidationError(_("请填写累计完成或年度目标"))
        return data

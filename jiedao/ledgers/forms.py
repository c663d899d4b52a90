"""Forms of the ledger pages; they only collect values — the services validate and write."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from jiedao.accounts.forms import Form

from .models import (
    BuildingStatus,
    CertificateType,
    CompensationMethod,
    EnterpriseKind,
    IntegrityEntryKind,
    MilestoneKind,
    PopulationGroup,
    ProjectKind,
    RelocationStage,
    Sector,
)

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class UnitChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return f"{obj.name}({obj.get_kind_display()})"


class LedgerForm(Form):
    org_unit = UnitChoice(label=_("所属单位"), queryset=None, empty_label=_("请选择"))

    def __init__(self, *args, units=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["org_unit"].queryset = units
        for field in self.fields.values():
            if isinstance(field.widget, forms.Textarea):
                field.widget.attrs.setdefault("rows", 3)


class ResidentForm(LedgerForm):
    name = forms.CharField(label=_("姓名"), max_length=50)
    id_number = forms.CharField(label=_("公民身份号码"), max_length=30, help_text=_("18 位,末位可为 X"))
    phone = forms.CharField(label=_("手机号"), max_length=20, required=False)
    address = forms.CharField(label=_("住址"), max_length=200, required=False)
    groups = forms.MultipleChoiceField(
        label=_("人群类别"),
        choices=PopulationGroup.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    notes = forms.CharField(label=_("备注"), required=False, widget=forms.Textarea)


class HealthForm(Form):
    blood_type = forms.CharField(label=_("血型"), max_length=8, required=False)
    chronic_conditions = forms.CharField(
        label=_("慢性病"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    disability = forms.CharField(label=_("残疾情况"), max_length=100, required=False)
    allergies = forms.CharField(label=_("过敏史"), max_length=200, required=False)
    family_doctor = forms.CharField(label=_("家庭医生"), max_length=50, required=False)
    last_checkup = forms.DateField(label=_("最近体检日期"), required=False, widget=DATE)
    notes = forms.CharField(label=_("备注"), required=False, widget=forms.Textarea(attrs={"rows": 2}))


class AgreementForm(Form):
    provider = forms.CharField(label=_("服务提供方"), max_length=100)
    services = forms.CharField(label=_("服务内容"), max_length=300)
    signed_on = forms.DateField(label=_("签订日期"), widget=DATE)
    start_date = forms.DateField(label=_("开始日期"), widget=DATE)
    end_date = forms.DateField(label=_("结束日期"), required=False, widget=DATE)
    notes = forms.CharField(label=_("备注"), required=False, widget=forms.Textarea(attrs={"rows": 2}))


class BuildingForm(LedgerForm):
    name = forms.CharField(label=_("楼宇名称"), max_length=100)
    status = forms.ChoiceField(label=_("状态"), choices=BuildingStatus.choices)
    address = forms.CharField(label=_("地址"), max_length=200, required=False)
    floor_area = forms.DecimalField(
        label=_("建筑面积(平方米)"), max_digits=12, decimal_places=2, required=False, min_value=0
    )
    notes = forms.CharField(label=_("备注"), required=False, widget=forms.Textarea)


class EnterpriseForm(LedgerForm):
    name = forms.CharField(label=_("企业名称"), max_length=150)
    credit_code = forms.CharField(label=_("统一社会信用代码"), max_length=30)
    credit_code_override_reason = forms.CharField(
        label=_("信用代码豁免理由"),
        max_length=200,
        required=False,
        help_text=_("仅当代码未通过 GB 32100 校验但确属有效(如早期试点代码)时填写;将记入审计日志"),
    )
    kind = forms.ChoiceField(label=_("类型"), choices=EnterpriseKind.choices)
    sector = forms.ChoiceField(label=_("行业"), choices=Sector.choices)
    online_direct_report = forms.BooleanField(label=_("联网直报"), required=False)
    above_scale = forms.BooleanField(label=_("规上"), required=False)
    above_quota = forms.BooleanField(label=_("限上"), required=False)
    building = forms.ModelChoiceField(label=_("所在楼宇"), queryset=None, required=False, empty_label=_("无"))
    address = forms.CharField(label=_("地址"), max_length=200, required=False)
    contact_name = forms.CharField(label=_("联系人"), max_length=50, required=False)
    contact_phone = forms.CharField(label=_("联系电话"), max_length=20, required=False)
    notes = forms.CharField(label=_("备注"), required=False, widget=forms.Textarea)

    def __init__(self, *args, buildings=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["building"].queryset = buildings


class ProjectForm(LedgerForm):
    name = forms.CharField(label=_("项目名称"), max_length=150)
    kind = forms.ChoiceField(label=_("类型"), choices=ProjectKind.choices)
    year = forms.IntegerField(label=_("年度"), min_value=2000, max_value=2100)
    planned_investment = forms.DecimalField(
        label=_("年度计划投资(万元)"), max_digits=14, decimal_places=2, min_value=0
    )
    owner = forms.CharField(label=_("建设单位"), max_length=150, required=False)
    notes = forms.CharField(label=_("备注"), required=False, widget=forms.Textarea)


class InvestmentForm(Form):
    month = forms.DateField(
        label=_("月份"),
        widget=forms.DateInput(attrs={"type": "month"}, format="%Y-%m"),
        input_formats=["%Y-%m", "%Y-%m-%d"],
    )
    amount = forms.DecimalField(label=_("完成投资(万元)"), max_digits=14, decimal_places=2, min_value=0)


class MilestoneForm(Form):
    kind = forms.ChoiceField(label=_("节点"), choices=MilestoneKind.choices)
    planned_date = forms.DateField(label=_("计划日期"), required=False, widget=DATE)
    actual_date = forms.DateField(label=_("实际日期"), required=False, widget=DATE)


class HouseholdForm(LedgerForm):
    plot_code = forms.CharField(
        label=_("地块编号"), max_length=30, help_text=_("如 CY203-B07;新编号将新建地块")
    )
    household_no = forms.CharField(label=_("户号"), max_length=30)
    head_name = forms.CharField(label=_("户主姓名"), max_length=50)
    id_number = forms.CharField(label=_("户主身份号码"), max_length=30, required=False)
    phone = forms.CharField(label=_("联系电话"), max_length=20, required=False)
    address = forms.CharField(label=_("房屋坐落"), max_length=200, required=False)
    certificate_type = forms.ChoiceField(label=_("产权证类型"), choices=CertificateType.choices)
    area = forms.DecimalField(label=_("面积(平方米)"), max_digits=10, decimal_places=2, min_value=0)
    compensation_method = forms.ChoiceField(
        label=_("补偿方式"), choices=[("", "—"), *CompensationMethod.choices], required=False
    )
    stage = forms.ChoiceField(label=_("阶段"), choices=RelocationStage.choices)
    blockers = forms.CharField(label=_("难点问题"), required=False, widget=forms.Textarea)


class ImportForm(Form):
    file = forms.FileField(label=_("Excel 文件(.xlsx)"))
    org_unit = UnitChoice(
        label=_("导入到"),
        queryset=None,
        empty_label=None,
        help_text=_("文件中“所属单位”列为空的行归入此单位;该列可填其下的社区或网格"),
    )

    def __init__(self, *args, units=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["org_unit"].queryset = units


class IntegrityArchiveForm(Form):
    cadre = forms.ModelChoiceField(label=_("干部"), queryset=None, empty_label=_("请选择"))
    position = forms.CharField(label=_("职务"), max_length=100, required=False)

    def __init__(self, *args, cadres=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["cadre"].queryset = cadres
        self.fields["cadre"].label_from_instance = lambda u: f"{u.full_name or u.username}({u.username})"


class IntegrityEntryForm(Form):
    kind = forms.ChoiceField(label=_("类别"), choices=IntegrityEntryKind.choices)
    date = forms.DateField(label=_("日期"), widget=DATE)
    title = forms.CharField(label=_("事项"), max_length=200)
    content = forms.CharField(label=_("内容"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
    document = forms.FileField(label=_("文件"), required=False)

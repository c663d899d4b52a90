"""Forms of the staff pages: the inbox filters, intake, and one form per step of the loop.

Forms only shape input; the services decide. Every step form carries the ``version`` the user
saw, so a step taken on a stale page is refused by the service (``CaseConflict``). Field names
match the ``field`` a service names in its ``CaseError``, so its message lands on the right field.
"""

from __future__ import annotations

import datetime as dt

from django import forms
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from jiedao.accounts.access import has_cap, scope_paths
from jiedao.accounts.models import Membership, User
from jiedao.accounts.roles import GRANTS, Cap, Role
from jiedao.core.models import OrgUnit, OrgUnitKind

from . import permissions
from .models import (
    AttachmentStage,
    Case,
    CaseKind,
    Category,
    Channel,
    Outcome,
    Priority,
    Status,
)

DATE = {"type": "date"}
PLACE_KINDS = (OrgUnitKind.STREET, OrgUnitKind.COMMUNITY, OrgUnitKind.GRID)
HANDLER_KINDS = (OrgUnitKind.DEPARTMENT, OrgUnitKind.COMMUNITY, OrgUnitKind.GRID)
STAFF_ROLES = (Role.LEADER, Role.STAFF, Role.COMMUNITY_WORKER, Role.GRID_WORKER)


def _blank(label) -> list[tuple[str, str]]:
    return [("", label)]


class UnitChoiceField(forms.ModelChoiceField):
    """Units labelled with their kind, indented under their parent (社区 › 网格)."""

    def label_from_instance(self, obj: OrgUnit) -> str:
        prefix = "\u3000" if obj.kind == OrgUnitKind.GRID else ""
        return f"{prefix}{obj.name}({obj.get_kind_display()})"


def category_choices(categories) -> list:
    """Categories grouped by kind, as <optgroup>s."""
    groups: dict[str, list] = {}
    for category in categories:
        groups.setdefault(CaseKind(category.kind).label, []).append((category.pk, str(category)))
    return [("", _("请选择"))] + [(label, items) for label, items in groups.items()]


def _any_prefix(paths) -> Q:
    return Q(path__in=list(paths)) if paths else Q(pk__in=[])


def _under_any(paths) -> Q:
    q = Q(pk__in=[])
    for path in paths:
        q |= Q(path__startswith=path)
    return q


# --- the inbox filters ------------------------------------------------------------------

REFUSED_SEARCH = "—"  # a search without a word: it finds nothing (``search.search``)


class CaseFilterForm(forms.Form):
    q = forms.CharField(label=_("搜索"), required=False, max_length=100,
                        widget=forms.TextInput(attrs={"type": "search",
                                                      "placeholder": _("标题、内容、地址、诉求人或查询码")}))
    kind = forms.ChoiceField(label=_("类型"), required=False)
    category = forms.TypedChoiceField(label=_("分类"), required=False, coerce=int, empty_value=None)
    status = forms.ChoiceField(label=_("状态"), required=False)
    place = forms.TypedChoiceField(label=_("社区/网格"), required=False, coerce=int, empty_value=None)
    channel = forms.ChoiceField(label=_("来源"), required=False)
    date_from = forms.DateField(label=_("受理起"), required=False,
                                widget=forms.DateInput(DATE, format="%Y-%m-%d"))
    date_to = forms.DateField(label=_("受理止"), required=False,
                              widget=forms.DateInput(DATE, format="%Y-%m-%d"))
    overdue = forms.BooleanField(label=_("只看超期"), required=False)

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.hint_search()
        self.fields["kind"].choices = _blank(_("全部")) + list(CaseKind.choices)
        self.fields["status"].choices = _blank(_("全部")) + list(Status.choices)
        self.fields["channel"].choices = _blank(_("全部")) + list(Channel.choices)
        categories = Category.objects.filter(is_active=True).order_by("kind", "sort", "code")
        self.fields["category"].choices = [("", _("全部"))] + category_choices(categories)[1:]
        # Every community of the user's streets: a department's cases come from all of them.
        street_paths = {"/".join(path.split("/")[:3]) + "/" for path in scope_paths(user, Cap.BUSINESS_READ)}
        streets = OrgUnit.objects.filter(kind=OrgUnitKind.STREET).filter(
            _any_prefix(street_paths) | _under_any(scope_paths(user, Cap.BUSINESS_READ)))
        q = Q(pk__in=[])
        for street in streets:
            q |= Q(path__startswith=street.path)
        places = OrgUnit.objects.filter(q, is_active=True, kind__in=(OrgUnitKind.COMMUNITY, OrgUnitKind.GRID)
                                        ).order_by("path")
        self.fields["place"].choices = _blank(_("全部")) + [
            (u.pk, ("\u3000" if u.kind == OrgUnitKind.GRID else "") + u.name) for u in places]

    def hint_search(self) -> None:
        """The search box names what it looks in: not the requester for someone whose searches
        do not match requesters (``permissions.finds_by_requester``)."""
        if not permissions.finds_by_requester(self.user):
            self.fields["q"].widget.attrs["placeholder"] = _("标题、内容、地址或查询码")

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.add_error("date_to", _("受理止日期不能早于受理起日期"))
        return data

    def clean_q(self) -> str:
        q = self.cleaned_data["q"]
        if permissions.phone_search_refused(self.user, q):
            raise forms.ValidationError(permissions.PHONE_SEARCH_REFUSED)
        return q

    def filters(self) -> dict:
        """The valid part of the form; an invalid field filters nothing — but a refused search
        finds nothing (``REFUSED_SEARCH``: no word in it), not every case."""
        if not self.is_bound:
            return {}
        self.is_valid()
        out = {k: v for k, v in self.cleaned_data.items() if v not in (None, "", False)}
        if "q" in self.errors:
            out["q"] = REFUSED_SEARCH
        return out


# --- intake -------------------------------------------------------------------------------

class IntakeForm(forms.Form):
    category = forms.TypedChoiceField(label=_("分类"), coerce=int, empty_value=None)
    # The channels a person registers from; Open311 and the API are how other systems file.
    channel = forms.ChoiceField(label=_("来源"), initial=Channel.PHONE, choices=[
        (value, label) for value, label in Channel.choices if value not in (Channel.OPEN311, Channel.API)])
    priority = forms.ChoiceField(label=_("紧急程度"), choices=Priority.choices, initial=Priority.NORMAL)
    org_unit = UnitChoiceField(label=_("所在社区/网格"), queryset=OrgUnit.objects.none())
    title = forms.CharField(label=_("标题"), max_length=120)
    description = forms.CharField(label=_("内容"), required=False, widget=forms.Textarea({"rows": 4}))
    address = forms.CharField(label=_("地址"), max_length=200, required=False)
    requester_name = forms.CharField(label=_("诉求人"), max_length=50, required=False)
    requester_phone = forms.CharField(label=_("联系电话"), max_length=20, required=False,
                                      widget=forms.TextInput({"type": "tel", "inputmode": "tel"}))

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = category_choices(
            Category.objects.filter(is_active=True).order_by("kind", "sort", "code"))
        q = Q(pk__in=[])
        for cap in (Cap.BUSINESS_WRITE, Cap.GRID_REPORT):
            for path in scope_paths(user, cap):
                q |= Q(path__startswith=path)
        self.fields["org_unit"].queryset = places = OrgUnit.objects.filter(
            q, is_active=True, kind__in=PLACE_KINDS).order_by("path")
        # A 网格员 reports what he found on patrol, in his grid: say so before he has to.
        if has_cap(user, Cap.GRID_REPORT):
            self.fields["channel"].initial = Channel.PATROL
        only = list(places[:2])
        if len(only) == 1:
            self.fields["org_unit"].initial = only[0].pk

    def clean_category(self):
        pk = self.cleaned_data.get("category")
        category = Category.objects.filter(pk=pk, is_active=True).first()
        if category is None:
            raise forms.ValidationError(_("请选择有效的工单分类"))
        return category


# --- the steps ------------------------------------------------------------------------------

class StepForm(forms.Form):
    """Base of every step form: the version the user saw, posted back hidden."""

    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

    def __init__(self, *args, case: Case, user: User, **kwargs) -> None:
        kwargs.setdefault("initial", {})
        kwargs["initial"].setdefault("version", case.version)
        super().__init__(*args, **kwargs)
        self.case, self.user = case, user
        self.setup()

    def setup(self) -> None:
        """Per-case choices."""


class NoteField(forms.CharField):
    def __init__(self, label=None, required=False, **kwargs) -> None:
        super().__init__(label=label or _("说明"), required=required, max_length=2000,
                         widget=forms.Textarea({"rows": 2}), **kwargs)


class PersonChoiceField(forms.ModelChoiceField):
    def __init__(self, *args, labels: dict[int, str] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.labels = labels or {}

    def label_from_instance(self, obj: User) -> str:
        extra = self.labels.get(obj.pk)
        return f"{obj} · {extra}" if extra else str(obj)


def handler_people(case: Case) -> tuple[list[int], dict[int, str]]:
    """Who may be named as the handler: staff of the street's units, and the providers that
    serve the case's community (or the whole street)."""
    street = case.street
    memberships = Membership.objects.filter(
        Q(unit__path__startswith=street.path, role__in=STAFF_ROLES)
        | Q(role=Role.PROVIDER, unit_id__in=[int(p) for p in case.org_unit.path.strip("/").split("/")]),
        user__is_active=True, unit__is_active=True,
    ).select_related("unit").order_by("role", "unit__path")
    ids: list[int] = []
    labels: dict[int, str] = {}
    for m in memberships:
        if m.user_id not in labels:
            ids.append(m.user_id)
            labels[m.user_id] = f"{m.unit.name} {Role(m.role).label}"
    return ids, labels


class DispatchForm(StepForm):
    handler_unit = UnitChoiceField(label=_("承办单位"), queryset=OrgUnit.objects.none(), required=False)
    handler = PersonChoiceField(label=_("承办人"), queryset=User.objects.none(), required=False)
    note = NoteField(label=_("派单说明"))

    def setup(self) -> None:
        self.fields["handler_unit"].queryset = OrgUnit.objects.filter(
            path__startswith=self.case.street.path, kind__in=HANDLER_KINDS, is_active=True,
        ).order_by("kind", "path")
        ids, labels = handler_people(self.case)
        self.fields["handler"].queryset = User.objects.filter(pk__in=ids).order_by("username")
        self.fields["handler"].labels = labels

    def clean(self):
        data = super().clean()
        if not self.errors and not data.get("handler_unit") and not data.get("handler"):
            self.add_error("handler_unit", _("请选择承办单位或承办人(至少一项)"))
        return data


class RedispatchForm(DispatchForm):
    note = NoteField(label=_("改派原因"), required=True)


class AcceptForm(StepForm):
    note = NoteField()


class ClaimForm(StepForm):
    note = NoteField()


class ReturnForm(StepForm):
    reason = NoteField(label=_("退单理由"), required=True)


class MergeForm(StepForm):
    primary = forms.CharField(label=_("主工单查询码"), max_length=16,
                              help_text=_("本工单并入哪张工单:填写其查询码,或点选下方的疑似重复工单"))
    note = NoteField()


class NoteForm(StepForm):
    note = NoteField(label=_("备注"), required=True)


class ExtendRequestForm(StepForm):
    new_deadline = forms.DateTimeField(
        label=_("申请延至"), input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
        widget=forms.DateTimeInput({"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"))
    reason = NoteField(label=_("延期理由"), required=True)

    def setup(self) -> None:
        later = timezone.localtime(self.case.deadline_at) + dt.timedelta(days=3)
        self.fields["new_deadline"].initial = later.replace(second=0, microsecond=0)


class ExtendDecideForm(StepForm):
    approve = forms.TypedChoiceField(label=_("审批"), coerce=lambda v: v == "1",
                                     choices=[("1", _("批准延期")), ("0", _("驳回"))],
                                     widget=forms.RadioSelect)
    note = NoteField()


class ResolveForm(StepForm):
    outcome = forms.ChoiceField(label=_("办理结果"), choices=_blank(_("请选择")) + list(Outcome.choices))
    note = NoteField(label=_("办理情况"), required=True)


YES_NO = [("1", _("是")), ("0", _("否"))]


class ReviewForm(StepForm):
    satisfied = forms.TypedChoiceField(label=_("是否满意"), choices=YES_NO, coerce=lambda v: v == "1",
                                       widget=forms.RadioSelect)
    solved = forms.TypedChoiceField(label=_("问题是否解决"), required=False, empty_value=None,
                                    choices=[("", _("未答"))] + YES_NO, coerce=lambda v: v == "1")
    rating = forms.TypedChoiceField(label=_("评分"), required=False, empty_value=None, coerce=int,
                                    choices=[("", _("未评"))] + [(str(i), str(i)) for i in range(5, 0, -1)])
    note = NoteField(label=_("回访记录"))


class ReopenForm(StepForm):
    reason = NoteField(label=_("重办理由"), required=True)


class CloseForm(StepForm):
    note = NoteField(label=_("归档说明"))


class SuperviseForm(StepForm):
    note = NoteField(label=_("督办要求"), required=True)


class AssignOwnerForm(StepForm):
    owner = PersonChoiceField(label=_("包案领导"), queryset=User.objects.none())

    def setup(self) -> None:
        leader_roles = [role for role, caps in GRANTS.items() if Cap.SUPERVISE in caps]
        street = self.case.street
        ancestors = [int(p) for p in street.path.strip("/").split("/") if p]
        self.fields["owner"].queryset = User.objects.filter(
            is_active=True, memberships__role__in=leader_roles, memberships__unit_id__in=ancestors,
        ).distinct().order_by("username")


class AttachForm(forms.Form):
    file = forms.FileField(label=_("照片或文件"),
                           help_text=_("JPEG/PNG/GIF/WebP 图片或 PDF,按文件内容判断类型"))
    stage = forms.ChoiceField(label=_("阶段"), choices=AttachmentStage.choices,
                              initial=AttachmentStage.BEFORE)
    note = forms.CharField(label=_("说明"), max_length=200, required=False)


class KpiPeriodForm(forms.Form):
    start = forms.DateField(label=_("起始日期"), widget=forms.DateInput(DATE, format="%Y-%m-%d"))
    end = forms.DateField(label=_("截止日期"), widget=forms.DateInput(DATE, format="%Y-%m-%d"))

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["start"] > data["end"]:
            self.add_error("end", _("截止日期不能早于起始日期"))
        return data

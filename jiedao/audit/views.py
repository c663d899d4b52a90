"""审计日志 pages, for the 审计管理员 (Cap.AUDIT) only; anyone else gets a 404.

The list, the export and the chain check read through :func:`selectors.events_for`, so an
auditor sees, exports and counts only the events of the units in their scope. Exporting and
verifying are themselves audit events.
"""

from __future__ import annotations

import tempfile

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import FileResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from jiedao.accounts.access import grants, require_cap
from jiedao.accounts.roles import GRANTS, Cap
from jiedao.core.models import OrgUnit

from . import trail
from .export import EXPORT_LIMIT, export_filename, format_changes, write_events_xlsx
from .selectors import EventFilter, event_label, event_types, events_for
from .trail import Actor, record

PAGE_SIZE = 50
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

SUCCESS_CHOICES = [("", gettext_lazy("全部")), ("1", gettext_lazy("成功")),
                   ("0", gettext_lazy("失败"))]


class EventFilterForm(forms.Form):
    # <input type="date"> takes ISO dates whatever the locale's display format.
    date_from = forms.DateField(label=gettext_lazy("起始日期"), required=False,
                                widget=forms.DateInput({"type": "date"}, format="%Y-%m-%d"))
    date_to = forms.DateField(label=gettext_lazy("截止日期"), required=False,
                              widget=forms.DateInput({"type": "date"}, format="%Y-%m-%d"))
    actor = forms.CharField(label=gettext_lazy("操作人"), max_length=150, required=False,
                            widget=forms.TextInput(attrs={"placeholder": gettext_lazy("用户名")}))
    event_type = forms.ChoiceField(label=gettext_lazy("事件"), required=False)
    target = forms.CharField(label=gettext_lazy("对象"), max_length=200, required=False,
                             widget=forms.TextInput(attrs={"placeholder": gettext_lazy(
                                 "名称、类型或编号")}))
    success = forms.ChoiceField(label=gettext_lazy("结果"), choices=SUCCESS_CHOICES,
                                required=False)

    def __init__(self, *args, types: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["event_type"].choices = [("", _("全部"))] + [
            (code, f"{event_label(code)}({code})" if event_label(code) != code else code)
            for code in types
        ]

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.add_error("date_to", _("截止日期不能早于起始日期"))
        return data

    def to_filter(self) -> EventFilter:
        """The valid part of the form as a filter; an invalid field filters nothing."""
        if not self.is_bound:
            return EventFilter()
        self.is_valid()
        data = self.cleaned_data
        success = data.get("success", "")
        return EventFilter(
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            actor=(data.get("actor") or "").strip(),
            event_type=data.get("event_type") or "",
            target=(data.get("target") or "").strip(),
            success=None if success in ("", None) else success == "1",
        )


def _filtered(request) -> tuple[EventFilterForm, EventFilter]:
    scope = events_for(request.user)
    form = EventFilterForm(request.GET or None, types=event_types(scope))
    return form, form.to_filter()


def _audit_unit(user) -> OrgUnit | None:
    """The unit the auditor's own actions are recorded against: the top of their audit
    scope, so those rows are visible to them and to the auditors above them."""
    units = sorted((path, unit_id) for role, path, unit_id in grants(user)
                   if Cap.AUDIT in GRANTS.get(role, ()))
    return OrgUnit.objects.filter(pk=units[0][1]).first() if units else None


@require_GET
@login_required
def event_list(request):
    require_cap(request.user, Cap.AUDIT)
    form, event_filter = _filtered(request)
    events = event_filter.apply(events_for(request.user)).select_related("org_unit")
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [{"event": event, "label": event_label(event.event_type),
             "changes": format_changes(event.changes)} for event in page]
    context = {
        "form": form,
        "rows": rows,
        "page": page,
        "export_limit": EXPORT_LIMIT,
        "over_limit": page.paginator.count > EXPORT_LIMIT,
        "nav_current": "audit",
    }
    partial = request.htmx and not request.htmx.history_restore_request
    template = "audit/event_list.html#event_table" if partial else "audit/event_list.html"
    return render(request, template, context)


@require_GET
@login_required
def event_export(request):
    require_cap(request.user, Cap.AUDIT)
    _form, event_filter = _filtered(request)
    description = event_filter.describe()
    # A temporary file, not memory: write-only openpyxl keeps a 100,000-row export small.
    out = tempfile.TemporaryFile(suffix=".xlsx")
    try:
        result = write_events_xlsx(
            event_filter.apply(events_for(request.user)), out,
            description=description, exported_by=request.user.username,
        )
    except BaseException:
        out.close()
        raise
    detail = _("筛选条件:%(f)s;导出 %(n)d 条") % {"f": description, "n": result.rows}
    if result.truncated:
        detail += _("(符合条件 %(t)d 条,超出上限)") % {"t": result.total}
    record(by=Actor.of(request), event_type="audit.export", org_unit=_audit_unit(request.user),
           detail=detail)
    out.seek(0)
    return FileResponse(out, as_attachment=True, filename=export_filename(), content_type=XLSX)


@require_POST
@login_required
def verify(request):
    require_cap(request.user, Cap.AUDIT)
    result = trail.verify()
    if result.ok:
        text = _("审计链完整:共 %(n)d 条。") % {"n": result.checked}
        messages.success(request, text)
    else:
        text = _("审计链校验未通过:%(p)s") % {"p": result.problem}
        messages.error(request, text)
    record(by=Actor.of(request), event_type="audit.verify", org_unit=_audit_unit(request.user),
           success=result.ok, detail=text)
    return redirect("audit:event_list")

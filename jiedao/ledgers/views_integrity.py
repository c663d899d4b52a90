"""廉政档案 pages: Cap.INTEGRITY (the discipline role) only — not leaders, not sysadmin.

Every other user gets the same 404 as for a missing page, on the list, a detail, the forms and
the export alike. The scope is the street of the unit where the discipline role is held.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from jiedao.accounts.models import User
from jiedao.audit.trail import Actor
from jiedao.core.masking import mask_name
from jiedao.core.models import OrgUnit

from . import selectors, services, xlsx
from .forms import IntegrityArchiveForm, IntegrityEntryForm
from .models import IntegrityEntry

NAV = "integrity"


def _require(request) -> list[str]:
    paths = selectors.integrity_paths(request.user)
    if not paths:
        raise Http404
    return paths


def _archive(request, pk: int):
    _require(request)
    try:
        return selectors.integrity_archives(request.user).get(pk=pk)
    except Exception:
        raise Http404 from None


@login_required
def archive_list(request):
    _require(request)
    archives = selectors.integrity_archives(request.user).order_by("org_unit__path", "cadre__username")
    q = request.GET.get("q", "").strip()[:50]
    if q:
        archives = archives.filter(cadre__full_name__icontains=q) | archives.filter(
            cadre__username__icontains=q
        )
    rows = [{"archive": a, "count": a.entries.count(), "last": a.entries.first()} for a in archives]
    return render(request, "ledgers/integrity_list.html", {"rows": rows, "q": q, "nav_current": NAV})


def _cadres(request):
    paths = _require(request)
    units = OrgUnit.objects.none()
    for path in paths:
        units = units | OrgUnit.objects.filter(path__startswith=path)
    return User.objects.filter(home_unit__in=units, is_active=True, integrity_archive__isnull=True).order_by(
        "username"
    )


@login_required
def archive_create(request):
    cadres = _cadres(request)
    form = IntegrityArchiveForm(request.POST or None, cadres=cadres)
    if request.method == "POST" and form.is_valid():
        cadre = form.cleaned_data["cadre"]
        try:
            archive = services.integrity_archive_create(
                by=Actor.of(request),
                cadre=cadre,
                org_unit=cadre.home_unit,
                position=form.cleaned_data["position"],
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("已建立廉政档案。"))
            return redirect("ledgers:integrity_detail", archive.pk)
    return render(
        request, "ledgers/integrity_form.html", {"form": form, "nav_current": NAV, "title": _("建立廉政档案")}
    )


@login_required
def archive_detail(request, pk: int):
    archive = _archive(request, pk)
    form = IntegrityEntryForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.integrity_entry_create(by=Actor.of(request), archive=archive, **form.cleaned_data)
        except ValidationError as error:
            for name, errors in error.error_dict.items():
                form.add_error(name if name in form.fields else None, errors)
        else:
            messages.success(request, _("已登记。"))
            return redirect("ledgers:integrity_detail", pk)
    return render(
        request,
        "ledgers/integrity_detail.html",
        {
            "archive": archive,
            "entries": archive.entries.all(),
            "form": form,
            "nav_current": NAV,
            "events": [
                {"event": e, "label": selectors.event_label(e.event_type)}
                for e in selectors.history(archive, limit=50)
            ],
        },
    )


@login_required
def entry_document(request, pk: int, entry_pk: int):
    archive = _archive(request, pk)
    entry = IntegrityEntry.objects.filter(archive=archive, pk=entry_pk).exclude(document="").first()
    if entry is None:
        raise Http404
    with entry.document.open("rb") as handle:
        response = HttpResponse(handle.read(), content_type="application/octet-stream")
    response["Content-Disposition"] = "attachment; filename=document"
    return response


@login_required
def archive_export(request):
    paths = _require(request)
    archives = selectors.integrity_archives(request.user).prefetch_related("entries")
    rows = []
    for archive in archives:
        for entry in archive.entries.all():
            rows.append(
                [
                    mask_name(archive.cadre.full_name),
                    archive.cadre.username,
                    archive.position,
                    archive.org_unit.name,
                    entry.date,
                    entry.get_kind_display(),
                    entry.title,
                    entry.content,
                ]
            )
    unit = OrgUnit.objects.filter(path=paths[0]).first()
    services.integrity_export_recorded(by=Actor.of(request), unit=unit, count=len(rows))
    data = xlsx.write_table(
        _("廉政档案"),
        [_("干部"), _("用户名"), _("职务"), _("单位"), _("日期"), _("类别"), _("事项"), _("内容")],
        rows,
        widths=[10, 12, 14, 14, 12, 12, 30, 40],
    )
    stamp = timezone.localtime().strftime("%Y%m%d%H%M")
    response = HttpResponse(
        data, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    response["Content-Disposition"] = f"attachment; filename=integrity_{stamp}.xlsx"
    return response

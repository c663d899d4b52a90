"""报告校对 (any staff who reads business data, and system administrators) and 敏感词库
(Cap.CONFIG). Checking reads nothing from the records and stores nothing: the text is checked
and answered. Lexicon changes go through the audited services."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from jiedao.accounts.access import get_scoped_or_404, has_cap, require_cap, scoped, units_in_scope
from jiedao.accounts.roles import Cap
from jiedao.audit.trail import Actor

from . import services
from .documents import DocumentError, Source, annotate_docx, read_upload, render_html
from .engine import check_paragraphs, split_paragraphs
from .findings import KIND_LABELS
from .forms import CheckForm, ImportForm, WordForm
from .models import SensitiveWord, WordCategory

CHECK_CAPS = (Cap.BUSINESS_READ, Cap.CONFIG)
PAGE_SIZE = 50
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def may_check(user) -> bool:
    return any(has_cap(user, cap) for cap in CHECK_CAPS)


def _require_check(user) -> None:
    if not may_check(user):
        raise Http404


def source_from_form(form: CheckForm) -> Source:
    upload = form.cleaned_data.get("file")
    if upload:
        return read_upload(upload.name, upload.read())
    return Source("text", "", split_paragraphs(form.cleaned_data["text"]))


def annotated_name(source: Source) -> str:
    stem = source.name.rsplit(".", 1)[0] if source.name else _("报告")
    return f"{stem}-校对批注.docx"


@login_required
def check(request):
    _require_check(request.user)
    form = CheckForm(request.POST, request.FILES) if request.method == "POST" else CheckForm()
    context = {"form": form, "nav_current": "checker", "kind_labels": KIND_LABELS}
    if request.method == "POST" and form.is_valid():
        try:
            source = source_from_form(form)
        except DocumentError as error:
            form.add_error("file", str(error))
        else:
            report = check_paragraphs(source.paragraphs, lexicon=services.lexicon_for(request.user))
            if request.POST.get("action") == "docx":
                data = annotate_docx(source.data if source.kind == "docx" else None, source.paragraphs,
                                     report.findings)
                response = HttpResponse(data, content_type=DOCX_TYPE)
                response["Content-Disposition"] = _content_disposition(annotated_name(source))
                return response
            context.update({
                "report": report,
                "source": source,
                "numbered": list(enumerate(report.findings, start=1)),
                "html": render_html(source.paragraphs, report.findings),
                "error_count": len(report.errors),
            })
    status = 400 if request.method == "POST" and form.errors else 200
    if request.htmx and request.method == "POST":
        return render(request, "checker/check.html#results", context, status=status)
    return render(request, "checker/check.html", context, status=status)


def _content_disposition(name: str) -> str:
    from urllib.parse import quote

    return f"attachment; filename=\"checked.docx\"; filename*=UTF-8''{quote(name)}"


# --- 敏感词库 --------------------------------------------------------------------------

def _words_for(user):
    return scoped(SensitiveWord.objects.select_related("org_unit"), user, Cap.CONFIG)


@login_required
def lexicon(request):
    require_cap(request.user, Cap.CONFIG)
    words = _words_for(request.user)
    q = request.GET.get("q", "").strip()[:100]
    category = request.GET.get("category", "")
    if q:
        words = words.filter(word__icontains=q)
    if category in WordCategory.values:
        words = words.filter(category=category)
    page = Paginator(words.order_by("word", "pk"), PAGE_SIZE).get_page(request.GET.get("page"))
    units = units_in_scope(request.user, Cap.CONFIG)
    context = {
        "page": page, "q": q, "category": category, "categories": WordCategory.choices,
        "word_form": WordForm(units=units), "import_form": ImportForm(units=units),
        "nav_current": "checker_lexicon",
    }
    partial = request.htmx and not request.htmx.history_restore_request
    return render(request, "checker/lexicon.html#word_table" if partial else "checker/lexicon.html", context)


def _render_lexicon_with(request, status: int = 400, **forms):
    units = units_in_scope(request.user, Cap.CONFIG)
    context = {
        "page": Paginator(_words_for(request.user).order_by("word", "pk"), PAGE_SIZE).get_page(1),
        "q": "", "category": "", "categories": WordCategory.choices,
        "word_form": forms.get("word_form") or WordForm(units=units),
        "import_form": forms.get("import_form") or ImportForm(units=units),
        "nav_current": "checker_lexicon",
    }
    return render(request, "checker/lexicon.html", context, status=status)


@require_POST
@login_required
def word_add(request):
    require_cap(request.user, Cap.CONFIG)
    form = WordForm(request.POST, units=units_in_scope(request.user, Cap.CONFIG))
    if form.is_valid():
        data = form.cleaned_data
        try:
            entry = services.word_add(by=Actor.of(request), unit=data["unit"], word=data["word"],
                                      category=data["category"], note=data["note"])
        except ValidationError as error:
            for field, errors in error.error_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, _("已添加“%(w)s”。") % {"w": entry.word})
            return redirect("checker:lexicon")
    return _render_lexicon_with(request, word_form=form)


@require_POST
@login_required
def word_delete(request, pk: int):
    entry = get_scoped_or_404(SensitiveWord.objects.select_related("org_unit"), request.user, Cap.CONFIG,
                              pk=pk)
    services.word_delete(by=Actor.of(request), entry=entry)
    messages.success(request, _("已删除“%(w)s”。") % {"w": entry.word})
    return redirect("checker:lexicon")


@require_POST
@login_required
def words_import(request):
    require_cap(request.user, Cap.CONFIG)
    form = ImportForm(request.POST, request.FILES, units=units_in_scope(request.user, Cap.CONFIG))
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            result = services.words_import(by=Actor.of(request), unit=form.cleaned_data["unit"],
                                           name=upload.name, data=upload.read())
        except ValidationError as error:
            for errors in error.message_dict.values():
                form.add_error("file", errors)
        else:
            messages.success(request, _("导入完成:新增 %(a)s 个词,跳过重复 %(s)s 个。") % {
                "a": result.added, "s": result.skipped})
            return redirect("checker:lexicon")
    return _render_lexicon_with(request, import_form=form)

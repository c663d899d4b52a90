"""Import runs: an uploaded file is checked (preview), then confirmed and written, each step a
background task (django.tasks) that keeps its ImportRun row up to date for the polling page.

Progress while checking is written to the run row as rows are read (no transaction is open
then). Writing is one transaction — all or nothing — so its inner progress would be invisible
to other connections until commit; the page shows "正在写入" for that step instead of numbers
the database cannot yet share.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.core.files.base import ContentFile
from django.db.models import F as DbF
from django.tasks import task
from django.utils import timezone
from django.utils.translation import gettext as _

from jiedao.accounts.access import scope_paths
from jiedao.accounts.roles import Cap
from jiedao.audit.trail import Actor

from . import engine, xlsx
from .models import ImportRun, ImportStatus
from .specs import get_spec

MAX_STORED_ERRORS = 100_000


def can_write_for(user) -> Callable:
    if user is None:  # the CLI, run by the system
        return lambda unit: True
    paths = scope_paths(user, Cap.BUSINESS_WRITE)
    return lambda unit: any(unit.path.startswith(p) for p in paths)


def estimate_rows(data: bytes) -> int:
    """Rows declared by the sheet's <dimension> (0 when absent); only for the progress bar."""
    try:
        archive = xlsx.check_archive(data)
        sheet = xlsx._first_sheet_path(archive)
        with xlsx._open_member(archive, sheet) as stream:
            head = stream.read(65536)
    except (xlsx.XlsxError, KeyError):
        return 0
    match = re.search(rb'<(?:\w+:)?dimension ref="[A-Z]+\d+:[A-Z]+(\d+)"', head)
    return max(int(match.group(1)) - 1, 0) if match else 0


def import_file(
    ledger: str,
    data: bytes,
    *,
    unit,
    by: Actor,
    user=None,
    filename: str = "",
    progress: Callable[[int, int], None] | None = None,
    write_progress: Callable[[int, int], None] | None = None,
):
    """Check and, when clean, write a file in one go (CLI, bench). Returns (result, counts or None)."""
    spec = get_spec(ledger)
    context = engine.Context(unit=unit, can_write=can_write_for(user))
    result = engine.check(spec, data, context, progress=progress)
    if not result.ok:
        return result, None
    counts = engine.apply(spec, result, by=by, unit=unit, filename=filename, progress=write_progress)
    return result, counts


def start(*, ledger: str, unit, user, upload) -> ImportRun:
    """Store an uploaded file and queue its check."""
    run = ImportRun(ledger=ledger, org_unit=unit, created_by=user, filename=upload.name[:200])
    run.file.save(f"{ledger}.xlsx", ContentFile(upload.read()), save=False)
    run.save()
    check_task.enqueue(run.pk)
    return run


def confirm(run: ImportRun) -> None:
    updated = ImportRun.objects.filter(pk=run.pk, status=ImportStatus.CHECKED).update(
        status=ImportStatus.IMPORTING, processed_rows=0
    )
    if updated:
        apply_task.enqueue(run.pk)


def _context(run: ImportRun) -> engine.Context:
    return engine.Context(unit=run.org_unit, can_write=can_write_for(run.created_by))


def _read(run: ImportRun) -> bytes:
    with run.file.open("rb") as handle:
        return handle.read(xlsx.MAX_UPLOAD_BYTES + 1)


def _progress_saver(run: ImportRun, estimate: int):
    def save(done: int, total: int) -> None:
        ImportRun.objects.filter(pk=run.pk).update(processed_rows=done, total_rows=max(total, estimate, done))

    return save


@task()
def check_task(run_id: int) -> str:
    run = ImportRun.objects.select_related("org_unit", "created_by").get(pk=run_id)
    data = _read(run)
    estimate = estimate_rows(data)
    ImportRun.objects.filter(pk=run.pk).update(status=ImportStatus.CHECKING, total_rows=estimate)
    spec = get_spec(run.ledger)
    try:
        result = engine.check(spec, data, _context(run), progress=_progress_saver(run, estimate))
    except Exception as error:  # the page must say so rather than spin forever
        ImportRun.objects.filter(pk=run.pk).update(
            status=ImportStatus.FAILED, message=str(error)[:500], finished_at=timezone.now()
        )
        raise
    values = {
        "total_rows": result.total,
        "processed_rows": result.total,
        "error_count": len(result.errors),
        "errors": [e.as_list() for e in result.errors[:MAX_STORED_ERRORS]],
        "created_count": result.count("create"),
        "updated_count": result.count("update"),
        "unchanged_count": result.count("unchanged"),
    }
    if result.ok:
        values["status"] = ImportStatus.CHECKED
        values["preview"] = {
            "headers": engine.preview_headers(spec, result),
            "rows": engine.preview(spec, result),
        }
    else:
        values["status"] = ImportStatus.REFUSED
        values["finished_at"] = timezone.now()
        values["message"] = _("发现 %(n)s 处问题,未导入任何数据") % {"n": len(result.errors)}
    ImportRun.objects.filter(pk=run.pk).update(**values)
    return values["status"]


@task()
def apply_task(run_id: int) -> str:
    run = ImportRun.objects.select_related("org_unit", "created_by").get(pk=run_id)
    if run.status != ImportStatus.IMPORTING:
        return run.status
    data = _read(run)
    spec = get_spec(run.ledger)
    by = Actor(user=run.created_by, label=run.created_by.username if run.created_by else "import")
    try:
        result = engine.check(spec, data, _context(run))
        if not result.ok:  # the database changed since the preview (someone else imported)
            ImportRun.objects.filter(pk=run.pk).update(
                status=ImportStatus.REFUSED,
                error_count=len(result.errors),
                errors=[e.as_list() for e in result.errors[:MAX_STORED_ERRORS]],
                finished_at=timezone.now(),
                message=_("确认导入时复核发现 %(n)s 处问题(数据在预览后有变化),未导入任何数据")
                % {"n": len(result.errors)},
            )
            return ImportStatus.REFUSED
        counts = engine.apply(spec, result, by=by, unit=run.org_unit, filename=run.filename)
    except Exception as error:
        ImportRun.objects.filter(pk=run.pk).update(
            status=ImportStatus.FAILED, message=str(error)[:500], finished_at=timezone.now()
        )
        raise
    ImportRun.objects.filter(pk=run.pk).update(
        status=ImportStatus.DONE,
        processed_rows=DbF("total_rows"),
        created_count=counts["created"],
        updated_count=counts["updated"],
        unchanged_count=counts["unchanged"],
        finished_at=timezone.now(),
        message=_("导入完成:新增 %(c)s 条,更新 %(u)s 条,未变 %(n)s 条")
        % {"c": counts["created"], "u": counts["updated"], "n": counts["unchanged"]},
    )
    return ImportStatus.DONE

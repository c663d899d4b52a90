"""Attachments: photos before/after and documents, type-sniffed from their bytes, size-limited."""

from __future__ import annotations

import hashlib
from pathlib import PurePath

from django.conf import settings
from django.core.files.base import ContentFile
from django.utils import timezone
from django.utils.translation import gettext as _

from jiedao.audit.trail import Actor, atomic

from .models import Action, Attachment, AttachmentStage, Case
from .services import CaseError, _actor_label, _step

# Magic numbers of what we accept; the file's own name and declared type are not trusted.
SIGNATURES: list[tuple[bytes, int, str, str]] = [
    (b"\xff\xd8\xff", 0, "image/jpeg", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png", ".png"),
    (b"GIF87a", 0, "image/gif", ".gif"),
    (b"GIF89a", 0, "image/gif", ".gif"),
    (b"WEBP", 8, "image/webp", ".webp"),
    (b"%PDF-", 0, "application/pdf", ".pdf"),
]


def sniff(head: bytes) -> tuple[str, str] | None:
    for magic, offset, content_type, extension in SIGNATURES:
        if head[offset:offset + len(magic)] == magic and (magic != b"WEBP" or head[:4] == b"RIFF"):
            return content_type, extension
    return None


def attach(
    by: Actor, case: Case, *, upload, stage: str = AttachmentStage.OTHER, note: str = ""
) -> Attachment:
    """Store one uploaded file on the case's timeline (``upload``: a Django UploadedFile or File)."""
    if stage not in AttachmentStage.values:
        raise CaseError(_("未知的附件阶段“%(s)s”") % {"s": stage}, "stage")
    limit = settings.JIEDAO_ATTACHMENT_MAX_BYTES
    name = PurePath(getattr(upload, "name", "") or "file").name[:200]
    size = getattr(upload, "size", None)
    if size is not None and size > limit:
        raise CaseError(_("附件“%(n)s”有 %(s).1f MB,超过上限 %(l).0f MB")
                        % {"n": name, "s": size / 1e6, "l": limit / 1e6}, "file")
    data = upload.read(limit + 1)
    if len(data) > limit:
        raise CaseError(_("附件“%(n)s”超过上限 %(l).0f MB") % {"n": name, "l": limit / 1e6}, "file")
    if not data:
        raise CaseError(_("附件“%(n)s”是空文件") % {"n": name}, "file")
    kind = sniff(data[:16])
    if kind is None:
        raise CaseError(_("附件“%(n)s”不是 JPEG/PNG/GIF/WebP 图片或 PDF 文件(按文件内容判断)") % {"n": name},
                        "file")
    content_type, extension = kind
    with atomic():
        event = _step(by, case, None, Action.ATTACH, note=note or name,
                      data={"file": name, "stage": stage, "content_type": content_type})
        row = Attachment(case=case, event=event, stage=stage, original_name=name,
                         content_type=content_type, extension=extension, size=len(data),
                         sha256=hashlib.sha256(data).hexdigest(), uploaded_at=timezone.now(),
                         uploaded_by=_actor_label(by)[:150])
        row.file.save(row.sha256[:16] + extension, ContentFile(data), save=False)
        row.save()
    return row

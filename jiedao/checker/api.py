"""JSON API of the report checker, mounted by jiedao.api under /api/checker/.

``POST /api/checker/check`` takes either a JSON body ``{"text": "…"}`` or a multipart form
with a ``file`` (.docx, .txt, .md) — or a ``text`` field — and answers the findings. The
caller's lexicon is the one the page would use. Nothing is stored. Errors come back as
``{"detail": 中文说明, "field": …, "code": "invalid"}`` with status 400.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status

from . import services
from .documents import MAX_UPLOAD_BYTES, DocumentError, read_upload
from .engine import check_paragraphs, split_paragraphs
from .forms import MAX_TEXT_CHARS
from .views import may_check

router = Router(tags=["报告校对"])


class ErrorOut(Schema):
    detail: str = Field(..., description="中文错误说明")
    field: str = Field("", description="出错的输入字段")
    code: str = Field("invalid", description="invalid 输入有误")


class FindingOut(Schema):
    kind: str = Field(..., description="类型代码,如 sum_mismatch、sensitive_word")
    kind_label: str = Field(..., description="类型名称")
    severity: str = Field(..., description="error 错误 / warning 提示")
    severity_label: str
    paragraph: int = Field(..., description="段落序号(从 0 起)")
    start: int = Field(..., description="段内起始字符位置")
    end: int = Field(..., description="段内结束字符位置(不含)")
    quote: str = Field(..., description="原文片段")
    message: str
    arithmetic: str = Field("", description="计算过程,如 10+5+8+7+1 = 31 ≠ 30")
    related: list[list[int]] = Field(default_factory=list, description="相关分项的位置 [start, end]")


class ConfirmedOut(Schema):
    kind: str
    paragraph: int
    start: int
    end: int
    quote: str
    arithmetic: str


class CheckOut(Schema):
    paragraph_count: int
    character_count: int
    findings: list[FindingOut]
    confirmed: list[ConfirmedOut] = Field(..., description="已识别且核对无误的计算")


class CheckIn(Schema):
    text: str = Field(..., description="待校对的文本,一行一段", max_length=MAX_TEXT_CHARS)


REQUEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": CheckIn.json_schema()},
            "multipart/form-data": {"schema": {
                "type": "object",
                "properties": {
                    "file": {"type": "string", "format": "binary", "description": ".docx、.txt 或 .md"},
                    "text": {"type": "string", "description": "或直接给出文本"},
                },
            }},
        },
    }
}


def _invalid(detail: str, field: str = "text") -> Status:
    return Status(400, {"detail": detail, "field": field, "code": "invalid"})


@router.post("/check", response={200: CheckOut, 400: ErrorOut, 404: ErrorOut, 422: ErrorOut},
             openapi_extra=REQUEST_BODY, summary="校对一篇报告")
def check(request: HttpRequest):
    if not may_check(request.user):
        raise Http404
    content_type = request.content_type or ""
    if content_type.startswith("multipart/") or content_type.startswith("application/x-www-form-urlencoded"):
        upload = request.FILES.get("file")
        if upload is not None:
            if upload.size > MAX_UPLOAD_BYTES:
                return _invalid(_("文件过大:上限为 5 MB。"), "file")
            try:
                source = read_upload(upload.name or "", upload.read())
            except DocumentError as error:
                return _invalid(str(error), "file")
            paragraphs = source.paragraphs
        else:
            text = request.POST.get("text", "")
            if not text.strip():
                return _invalid(_("请提供 text 文本或 file 文件。"))
            paragraphs = split_paragraphs(text)
    else:
        try:
            body = json.loads(request.body or b"{}")
        except (ValueError, UnicodeDecodeError):
            return _invalid(_("请求体不是有效的 JSON。"), "")
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text.strip():
            return _invalid(_("“text”须为非空字符串。"))
        if len(text) > MAX_TEXT_CHARS:
            return _invalid(_("“text”不能超过 %(n)s 个字符。") % {"n": MAX_TEXT_CHARS})
        paragraphs = split_paragraphs(text)
    report = check_paragraphs(paragraphs, lexicon=services.lexicon_for(request.user))
    return Status(200, report.as_dict())

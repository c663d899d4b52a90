"""JSON API of the ledgers, mounted by jiedao.api under /api/ledgers/: read-only, masked.

``GET /api/ledgers/{ledger}/`` lists a ledger's active records in the caller's BUSINESS_READ
scope (the list page's filters: ``q`` and each ledger's own, e.g. ``group``, ``sector``,
``stage``), ``GET /api/ledgers/{ledger}/{id}`` shows one. Values are the export's columns, by
Chinese header, with names, ID numbers and phones masked; there is no reveal here — that is
the page's audited "显示" button. Integrity archives are not served by the API.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.http import Http404, HttpRequest
from django.urls import reverse
from ninja import Query, Router, Schema

from jiedao.accounts.access import get_scoped_or_404, has_cap
from jiedao.accounts.roles import Cap

from . import selectors
from .specs import LEDGERS, get_spec

router = Router(tags=["台账"])
MAX_LIMIT = 200


class RecordOut(Schema):
    id: int
    org_unit: str
    url: str
    values: dict[str, Any]


class PageOut(Schema):
    count: int
    offset: int
    limit: int
    results: list[RecordOut]


class ErrorOut(Schema):
    detail: str


class ListQuery(Schema):
    q: str = ""
    offset: int = 0
    limit: int = 50


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def _out(ledger: str, obj) -> dict:
    spec = get_spec(ledger)
    return {
        "id": obj.pk,
        "org_unit": obj.org_unit.name,
        "url": reverse("ledgers:detail", args=[ledger, obj.pk]),
        "values": {str(c.header): _plain(c.export(obj)) for c in spec.export_columns()},
    }


def _ledger(ledger: str) -> str:
    if ledger not in LEDGERS:
        raise Http404
    return ledger


@router.get("/{ledger}/", response={200: PageOut, 404: ErrorOut}, summary="台账列表(脱敏)")
def ledger_list(request: HttpRequest, ledger: str, params: Query[ListQuery]):
    _ledger(ledger)
    if not has_cap(request.user, Cap.BUSINESS_READ):
        raise Http404
    qs, _used = selectors.apply_filters(ledger, selectors.ledger_queryset(ledger, request.user), request.GET,
                                        request.user)
    qs = get_spec(ledger).export_queryset(qs).order_by("pk")
    limit = max(1, min(params.limit, MAX_LIMIT))
    offset = max(0, params.offset)
    return {
        "count": qs.count(),
        "offset": offset,
        "limit": limit,
        "results": [_out(ledger, obj) for obj in qs[offset : offset + limit]],
    }


@router.get("/{ledger}/{record_id}", response={200: RecordOut, 404: ErrorOut}, summary="台账记录(脱敏)")
def ledger_detail(request: HttpRequest, ledger: str, record_id: int):
    _ledger(ledger)
    qs = get_spec(ledger).export_queryset(selectors.ledger_queryset(ledger, request.user))
    return _out(ledger, get_scoped_or_404(qs, request.user, Cap.BUSINESS_READ, pk=record_id))

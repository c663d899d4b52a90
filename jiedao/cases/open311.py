"""Open311 GeoReport v2 under /open311/v2/ — the outward API through which other systems
(the district's 12345 platform, a property company's app …) file requests and follow them.

Endpoints (each in ``.json`` and ``.xml``): ``discovery``, ``services``,
``services/{service_code}``, ``POST requests`` (form-encoded), ``tokens/{token}``,
``GET requests`` (filters ``service_request_id``, ``service_code``, ``start_date``,
``end_date``, ``status``) and ``requests/{service_request_id}``.

Choices where the specification leaves room (documented in docs/readme/cases-api.md):

* ``service_code`` is ``Category.code`` of the public, active categories; the service orders
  and the 红管家 disputes have ``metadata=true`` with attributes (预约时间, 现场联系人; 是否同意
  调解, 涉及对象), the others ``metadata=false`` (their definition has no attributes).
* ``jurisdiction_id`` (query string or body) is the street's 9-digit region code; an unknown
  one is 404 (as the specification lists). A client bound to a street (``--street``) may only
  use that street; its requests default to it.
* Every request except discovery and the service list needs the client's ``api_key``: cases
  carry residents' matters (PIPL), so a client reads back only the requests it filed itself,
  and only their public fields — never the requester's name or phone.
* ``service_request_id`` is the case's tracking code (a string). The request is created at
  once, so the POST answer carries the id and also a ``token`` for clients that poll tokens;
  a token is an HMAC of the id, so nothing extra is stored.
* ``status`` is ``open`` while the case is waiting, dispatched or in progress, ``closed`` from
  办结 on (待回访, 已归档, 已并单); ``status_notes`` tells the finer state in Chinese. A
  reopened case is ``open`` again.
* Errors are the specification's array of ``{code, description}`` (descriptions in Chinese):
  404 unknown resource or jurisdiction, 403 missing/bad/revoked ``api_key``, 400 anything
  else; nothing is created when a POST is refused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import secrets
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import BadRequest, SuspiciousOperation, ValidationError
from django.core.validators import URLValidator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from jiedao.audit.trail import Actor, atomic, client_ip, record
from jiedao.core.models import OrgUnit, OrgUnitKind
from jiedao.core.recent import Recent

from . import lookups, services
from .models import (
    FINISHED_STATUSES,
    Action,
    Case,
    CaseEvent,
    CaseKind,
    Category,
    Channel,
    Open311Client,
    Outcome,
    Status,
)

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-11-27T00:00:00+08:00"  # when this endpoint last changed in a way clients see
MAX_REQUESTS = 1000
FIRST_YEAR, LAST_YEAR = 1900, 9998  # dates a client may give (start_date, end_date, attributes)
DEFAULT_DAYS = 90
KEY_PREFIX = "o311_"

OPEN = "open"
CLOSED = "closed"


# --- api keys -----------------------------------------------------------------------------------

def key_digest(plain: str) -> str:
    return hashlib.sha256(plain.encode()).hexdigest()


def issue_key(by: Actor, name: str, street: OrgUnit | None = None) -> tuple[Open311Client, str]:
    """A new client (or a new key for a revoked one); the plain key is returned once, never stored."""
    name = (name or "").strip()
    if not name:
        raise ValidationError(_("请给出接入系统的名称"))
    if street is not None and street.kind != OrgUnitKind.STREET:
        raise ValidationError(_("“%(u)s”不是街道") % {"u": street.name})
    plain = KEY_PREFIX + secrets.token_urlsafe(24)
    with atomic():
        client = Open311Client.objects.select_for_update().filter(name=name).first()
        if client is not None and client.revoked_at is None:
            raise ValidationError(_("接入系统“%(n)s”已有有效的 api_key;如需更换,请先吊销") % {"n": name})
        if client is None:
            client = Open311Client(name=name)
        client.street = street
        client.key_prefix = plain[len(KEY_PREFIX):len(KEY_PREFIX) + 8]
        client.key_digest = key_digest(plain)
        client.created_at = timezone.now()
        client.revoked_at = None
        client.save()
        record(by=by, event_type="cases.open311_key_issue", target=client, org_unit=street,
               changes={"name": name, "street": street.code if street else "", "prefix": client.key_prefix})
    return client, plain


def revoke_key(by: Actor, client: Open311Client) -> None:
    with atomic():
        client.revoked_at = timezone.now()
        client.save(update_fields=["revoked_at"])
        record(by=by, event_type="cases.open311_key_revoke", target=client, org_unit=client.street,
               changes={"name": client.name, "prefix": client.key_prefix})


# Every POST reads its client: kept for a few seconds per process (jiedao/cases/lookups.py).
_clients: Recent[str, Open311Client | None] = Recent(lookups.MEMO_SECONDS)


def client_for_key(plain: str) -> Open311Client | None:
    if not plain:
        return None
    digest = key_digest(plain)
    return _clients.get(digest, lambda: Open311Client.objects.select_related("street")
                        .filter(key_digest=digest, revoked_at__isnull=True).first())


def actor_label(client: Open311Client) -> str:
    return f"open311:{client.name}"


# --- tokens ---------------------------------------------------------------------------------------

def token_for(service_request_id: str) -> str:
    mac = salted_hmac("jiedao.cases.open311.token", service_request_id, algorithm="sha256").hexdigest()
    return f"{mac[:24]}-{service_request_id}"


def request_id_for_token(token: str) -> str | None:
    mac, _sep, request_id = token.partition("-")
    if not request_id or not constant_time_compare(token, token_for(request_id)):
        return None
    return request_id


# --- service metadata (attributes) ------------------------------------------------------------------

@dataclass(frozen=True)
class Attribute:
    code: str
    datatype: str  # string | number | datetime | text | singlevaluelist | multivaluelist
    required: bool
    description: str
    datatype_description: str = ""
    values: tuple[tuple[str, str], ...] = ()

    def as_dict(self, order: int) -> dict[str, Any]:
        return {
            "variable": True,
            "code": self.code,
            "datatype": self.datatype,
            "required": self.required,
            "datatype_description": self.datatype_description,
            "order": order,
            "description": self.description,
            "values": [{"key": key, "name": name} for key, name in self.values],
        }


ATTRIBUTES: dict[str, tuple[Attribute, ...]] = {
    CaseKind.SERVICE_ORDER: (
        Attribute("appointment_time", "datetime", False, "预约时间",
                  "ISO 8601,带时区,如 2026-12-01T09:00:00+08:00"),
        Attribute("contact_person", "string", False, "现场联系人(代他人点单时填写称呼即可)"),
    ),
    CaseKind.DISPUTE: (
        Attribute("mediation", "singlevaluelist", True, "是否同意由红管家调解", "",
                  (("yes", "同意"), ("no", "不同意"))),
        Attribute("parties", "string", False, "纠纷涉及的对象(如 楼上住户、物业公司,不必写姓名)"),
    ),
}


def attributes_of(category: Category) -> tuple[Attribute, ...]:
    return ATTRIBUTES.get(category.kind, ())


# --- rendering --------------------------------------------------------------------------------------

LIST_CHILD = {"attributes": "attribute", "values": "value", "endpoints": "endpoint", "formats": "format"}
# What XML 1.0 cannot carry at all (C0 controls but tab and newlines, non-characters, lone
# surrogates). A description may hold them — a client sent them, or a clipboard did — and one
# such case would make the client's whole request list unparseable: they are left out.
_NOT_IN_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_value(parent: ET.Element, tag: str, value: Any) -> None:
    element = ET.SubElement(parent, tag)
    if isinstance(value, dict):
        for key, inner in value.items():
            _xml_value(element, key, inner)
    elif isinstance(value, list):
        for inner in value:
            _xml_value(element, LIST_CHILD.get(tag, "item"), inner)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = _NOT_IN_XML.sub("", str(value))


def render(fmt: str, root: str, item: str | None, data: Any, status: int = 200) -> HttpResponse:
    """``data`` is a list of ``item`` dicts under ``root`` (or one dict that is ``root``)."""
    if fmt == "xml":
        element = ET.Element(root)
        if isinstance(data, list):
            for row in data:
                _xml_value(element, item or "item", row)
        else:
            for key, value in data.items():
                _xml_value(element, key, value)
        body = b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(element, encoding="utf-8")
        return HttpResponse(body, status=status, content_type="text/xml; charset=utf-8")
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return HttpResponse(body, status=status, content_type="application/json; charset=utf-8")


class Open311Error(Exception):
    def __init__(self, status: int, description: str):
        super().__init__(description)
        self.status = status
        self.description = description


def error_response(fmt: str, status: int, description: str) -> HttpResponse:
    return render(fmt, "errors", "error", [{"code": status, "description": description}], status)


def _iso(value: dt.datetime | None) -> str | None:
    return timezone.localtime(value).isoformat(timespec="seconds") if value is not None else None


def _number(value: Decimal | None) -> float | None:
    return float(value) if value is not None else None


def _endpoint(view):
    """Format check, method check and the spec's error answers for every view."""

    def wrapper(request: HttpRequest, fmt: str, **kwargs) -> HttpResponse:
        try:
            return view(request, fmt, **kwargs)
        except Open311Error as exc:
            return error_response(fmt, exc.status, exc.description)
        except (BadRequest, SuspiciousOperation) as exc:  # a body Django cannot read
            return error_response(fmt, 400, _("请求体无法解析(应为 UTF-8 的表单编码):%(e)s") % {"e": exc})

    wrapper.__name__ = view.__name__
    wrapper.__doc__ = view.__doc__
    return csrf_exempt(wrapper)


def _param(request: HttpRequest, name: str) -> str:
    """A parameter from the body (POST) or the query string (clients send both); an empty
    field of the body does not hide the query string's value."""
    value = request.POST.get(name, "").strip() if request.method == "POST" else ""
    return value or request.GET.get(name, "").strip()


def _only(request: HttpRequest, *methods: str) -> None:
    if request.method not in methods:
        raise Open311Error(400, _("不支持 %(m)s 请求,请用 %(a)s")
                           % {"m": request.method, "a": "/".join(methods)})


def _jurisdiction(request: HttpRequest, client: Open311Client | None = None) -> OrgUnit | None:
    code = _param(request, "jurisdiction_id")
    if not code:
        return client.street if client is not None else None
    if client is not None and client.street is not None and client.street.code == code:
        return client.street  # the usual case: no second look-up
    street = OrgUnit.objects.filter(kind=OrgUnitKind.STREET, code=code, is_active=True).first()
    if street is None:
        raise Open311Error(404, _("jurisdiction_id “%(c)s” 不存在:应为街道的 9 位区划代码") % {"c": code})
    if client is not None and client.street_id and client.street_id != street.pk:
        raise Open311Error(403, _("该 api_key 只能用于%(s)s(jurisdiction_id %(c)s)")
                           % {"s": client.street.name, "c": client.street.code})
    return street


def _client(request: HttpRequest) -> Open311Client:
    key = _param(request, "api_key")
    if not key:
        raise Open311Error(403, _("缺少 api_key"))
    client = client_for_key(key)
    if client is None:
        raise Open311Error(403, _("api_key 无效或已吊销"))
    return client


def _public_categories() -> QuerySet[Category]:
    return Category.objects.filter(public=True, is_active=True)


# --- discovery and services ---------------------------------------------------------------------------

@_endpoint
def discovery(request: HttpRequest, fmt: str) -> HttpResponse:
    """Where the endpoint is, which formats and which specification."""
    _only(request, "GET", "HEAD")
    base = request.build_absolute_uri(reverse("open311:discovery", kwargs={"fmt": fmt})).rsplit("/", 1)[0]
    data = {
        "changeset": CHANGESET,
        "contact": _("街道办事处系统管理员(api_key 由管理员用 jiedao open311 key 签发)"),
        "key_service": _("向街道系统管理员申请:jiedao open311 key 系统名称 [--street 街道区划代码]"),
        "endpoints": [{
            "specification": SPECIFICATION,
            "url": base,
            "changeset": CHANGESET,
            "type": "production",
            "formats": ["text/xml", "application/json"],
        }],
    }
    return render(fmt, "discovery", None, data)


def _service(category: Category) -> dict[str, Any]:
    kind = CaseKind(category.kind).label
    return {
        "service_code": category.code,
        "service_name": category.name,
        "description": category.description or _("%(k)s:%(n)s,办理时限 %(d)s") % {
            "k": kind, "n": category.name, "d": category.deadline_label},
        "metadata": bool(attributes_of(category)),
        "type": "realtime",
        "keywords": ",".join(x for x in (str(kind), category.group) if x),
        "group": category.group or str(kind),
    }


@_endpoint
def service_list(request: HttpRequest, fmt: str) -> HttpResponse:
    """The public, active categories (the resident menu, hazards, disputes …)."""
    _only(request, "GET", "HEAD")
    _jurisdiction(request)
    rows = [_service(c) for c in _public_categories().order_by("kind", "sort", "code")]
    return render(fmt, "services", "service", rows)


@_endpoint
def service_definition(request: HttpRequest, fmt: str, service_code: str) -> HttpResponse:
    _only(request, "GET", "HEAD")
    _jurisdiction(request)
    category = _public_categories().filter(code=service_code).first()
    if category is None:
        raise Open311Error(404, _("没有 service_code 为“%(c)s”的服务") % {"c": service_code})
    data = {
        "service_code": category.code,
        "attributes": [a.as_dict(order) for order, a in enumerate(attributes_of(category), start=1)],
    }
    return render(fmt, "service_definition", None, data)


# --- requests -----------------------------------------------------------------------------------------

def status_of(case: Case) -> str:
    return CLOSED if case.status in (*FINISHED_STATUSES, Status.MERGED) else OPEN


def status_notes(case: Case) -> str:
    outcome = Outcome(case.outcome).label if case.outcome in Outcome.values else ""
    match case.status:
        case Status.RECEIVED:
            note = _("已受理,待派单")
        case Status.DISPATCHED:
            note = _("已派单,待签收")
        case Status.IN_PROGRESS:
            note = _("办理中(重办)") if case.reopen_count else _("办理中")
        case Status.RESOLVED:
            note = _("已办结,待回访:%(o)s") % {"o": outcome}
        case Status.CLOSED:
            note = _("已归档:%(o)s") % {"o": outcome}
        case Status.MERGED:
            primary = case.merged_into.tracking_code if case.merged_into_id else ""
            note = _("已并入工单 %(c)s 一并办理") % {"c": primary}
        case _other:
            note = Status(case.status).label
    if case.supervised_at and case.status in (Status.RECEIVED, Status.DISPATCHED, Status.IN_PROGRESS):
        note += _(";督办中")
    return str(note)


def request_out(case: Case) -> dict[str, Any]:
    return {
        "service_request_id": case.tracking_code,
        "status": status_of(case),
        "status_notes": status_notes(case),
        "service_name": case.category.name,
        "service_code": case.category.code,
        "description": case.description or case.title,
        "agency_responsible": (case.handler_unit.name if case.handler_unit_id else case.street.name),
        "service_notice": "",
        "requested_datetime": _iso(case.created_at),
        "updated_datetime": _iso(case.updated_at),
        "expected_datetime": _iso(case.deadline_at),
        "address": case.address,
        "address_id": "",
        "zipcode": "",
        "lat": _number(case.latitude),
        "long": _number(case.longitude),
        "media_url": "",
    }


def _own_requests(client: Open311Client) -> QuerySet[Case]:
    """The cases this client filed (their create step carries the client's label)."""
    filed = CaseEvent.objects.filter(action=Action.CREATE, actor_label=actor_label(client)).values("case_id")
    return (Case.objects.filter(channel=Channel.OPEN311, pk__in=filed)
            .select_related("category", "street", "handler_unit", "merged_into"))


def _parse_time(name: str, value: str) -> dt.datetime:
    text = value.strip()
    if "T" in text and " " in text:  # a "+08:00" sent unencoded arrives as " 08:00"
        text = text.replace(" ", "+")
    try:
        moment = parse_datetime(text)
        if moment is None and (day := parse_date(text)) is not None:
            moment = dt.datetime.combine(day, dt.time.min)
    except ValueError:
        moment = None
    if moment is None:
        raise Open311Error(400, _("%(n)s “%(v)s” 不是有效的 ISO 8601 时间(如 2026-11-01T00:00:00+08:00)")
                           % {"n": name, "v": value})
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:  # beyond, the arithmetic and the databases overflow
        raise Open311Error(400, _("%(n)s “%(v)s” 超出范围:年份应在 %(a)s 到 %(b)s 之间")
                           % {"n": name, "v": value, "a": FIRST_YEAR, "b": LAST_YEAR})
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


def _list_requests(request: HttpRequest, fmt: str, client: Open311Client) -> HttpResponse:
    street = _jurisdiction(request, client)
    cases = _own_requests(client)
    if street is not None:
        cases = cases.filter(street=street)
    ids = [x.strip() for x in request.GET.get("service_request_id", "").split(",") if x.strip()]
    if ids:  # the specification: with ids, every other filter is ignored
        if len(ids) > MAX_REQUESTS:
            raise Open311Error(400, _("service_request_id 一次最多 %(n)s 个") % {"n": MAX_REQUESTS})
        cases = cases.filter(tracking_code__in=ids)
    else:
        start_text, end_text = request.GET.get("start_date", ""), request.GET.get("end_date", "")
        end = _parse_time("end_date", end_text) if end_text.strip() else None
        start = _parse_time("start_date", start_text) if start_text.strip() else None
        if start is not None and end is not None and end < start:
            raise Open311Error(400, _("end_date 早于 start_date"))
        if start is None and end is None:
            end = timezone.now()
        if start is None:
            start = end - dt.timedelta(days=DEFAULT_DAYS)
        cases = cases.filter(created_at__gte=start)
        if end is not None:
            cases = cases.filter(created_at__lte=end)
        codes = [x.strip() for x in request.GET.get("service_code", "").split(",") if x.strip()]
        if codes:
            known = set(_public_categories().filter(code__in=codes).values_list("code", flat=True))
            if unknown := [c for c in codes if c not in known]:
                raise Open311Error(400, _("未知的 service_code:%(c)s") % {"c": ", ".join(unknown)})
            cases = cases.filter(category__code__in=codes)
        statuses = {x.strip().lower() for x in request.GET.get("status", "").split(",") if x.strip()}
        if statuses - {OPEN, CLOSED}:
            raise Open311Error(400, _("status 只能是 open 或 closed"))
        if statuses == {OPEN}:
            cases = cases.filter(status__in=(Status.RECEIVED, Status.DISPATCHED, Status.IN_PROGRESS))
        elif statuses == {CLOSED}:
            cases = cases.filter(status__in=(*FINISHED_STATUSES, Status.MERGED))
    rows = [request_out(case) for case in cases.order_by("-created_at", "-id")[:MAX_REQUESTS]]
    return render(fmt, "service_requests", "request", rows)


def _decimal(name: str, value: str, low: int, high: int) -> Decimal:
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise Open311Error(400, _("%(n)s “%(v)s” 不是数字") % {"n": name, "v": value}) from None
    if not number.is_finite() or not low <= number <= high:
        raise Open311Error(400, _("%(n)s “%(v)s” 超出范围 %(l)s 到 %(h)s")
                           % {"n": name, "v": value, "l": low, "h": high})
    return number.quantize(Decimal("0.000001"))


def _attribute_values(request: HttpRequest, category: Category) -> list[tuple[Attribute, str]]:
    """``attribute[code]=value`` pairs checked against the service definition."""
    given: dict[str, str] = {}
    for key in request.POST:
        if match := re.fullmatch(r"attribute\[([^\]]+)\](\[\])?", key):
            given[match.group(1)] = ",".join(v.strip() for v in request.POST.getlist(key) if v.strip())
    attributes = {a.code: a for a in attributes_of(category)}
    if unknown := sorted(set(given) - set(attributes)):
        raise Open311Error(400, _("服务“%(s)s”没有属性 %(a)s") % {
            "s": category.code, "a": ", ".join(f"attribute[{c}]" for c in unknown)})
    values = []
    for code, attribute in attributes.items():
        value = given.get(code, "")
        if not value:
            if attribute.required:
                raise Open311Error(400, _("attribute[%(c)s](%(d)s)必填")
                                   % {"c": code, "d": attribute.description})
            continue
        if attribute.datatype == "datetime":
            value = _iso(_parse_time(f"attribute[{code}]", value))
        elif attribute.datatype == "singlevaluelist":
            keys = dict(attribute.values)
            if value not in keys:
                raise Open311Error(400, _("attribute[%(c)s] 只能是 %(k)s")
                                   % {"c": code, "k": "、".join(keys)})
            value = keys[value]
        elif len(value) > 200:
            raise Open311Error(400, _("attribute[%(c)s] 不能超过 200 字") % {"c": code})
        values.append((attribute, value))
    return values


def _community(street: OrgUnit, address: str) -> OrgUnit | None:
    """The street's community whose name the address mentions (e.g. “兰宫路社区…”), if any."""
    if not address:
        return None
    for unit in lookups.communities(street):
        if unit.name in address:
            return unit
    return None


MEDIA_URL_MAX = 300
SERVICE_FIELD = {"requester_phone": "phone", "requester_name": "first_name/last_name",
                 "latitude": "lat", "longitude": "long", "title": "description",
                 "address": "address_string",
                 "category": "service_code", "org_unit": "jurisdiction_id"}


def _create_request(request: HttpRequest, fmt: str) -> HttpResponse:
    client = _client(request)
    street = _jurisdiction(request, client)
    code = _param(request, "service_code")
    if not code:
        raise Open311Error(400, _("缺少 service_code"))
    category = lookups.category(code)
    if category is None or not (category.public and category.is_active):
        raise Open311Error(400, _("未知的 service_code“%(c)s”,请先查询 services") % {"c": code})
    if street is None:
        raise Open311Error(400, _("缺少 jurisdiction_id(街道的 9 位区划代码)"))
    lat_text, long_text = _param(request, "lat"), _param(request, "long")
    address, address_id = _param(request, "address_string"), _param(request, "address_id")
    if bool(lat_text) != bool(long_text):
        raise Open311Error(400, _("lat 和 long 须同时给出"))
    if not (lat_text or address or address_id):
        raise Open311Error(400, _("缺少位置:请给出 lat/long、address_string 或 address_id 之一"))
    latitude = _decimal("lat", lat_text, -90, 90) if lat_text else None
    longitude = _decimal("long", long_text, -180, 180) if long_text else None
    description = _param(request, "description")
    if len(description) > 4000:
        raise Open311Error(400, _("description 不能超过 4000 字"))
    for name in ("first_name", "last_name"):
        if len(_param(request, name)) > 25:
            raise Open311Error(400, _("%(n)s 不能超过 25 字") % {"n": name})
    attributes = _attribute_values(request, category)
    first_line = description.splitlines()[0].strip() if description else ""
    title = first_line[:60] or category.name
    extra = [f"【{a.description.split('(')[0]}】{v}" for a, v in attributes]
    if address_id:
        extra.append(_("【地址编号】%(a)s") % {"a": address_id[:60]})
    media_url = _param(request, "media_url")
    if media_url:
        try:
            if len(media_url) > MEDIA_URL_MAX:
                raise ValidationError("too long")
            URLValidator(schemes=["http", "https"])(media_url)
        except ValidationError:
            raise Open311Error(400, _("media_url 须为 http 或 https 网址,不超过 %(n)s 字")
                               % {"n": MEDIA_URL_MAX}) from None
        extra.append(_("【图片】%(u)s") % {"u": media_url})
    full_text = "\n".join([description, *extra]).strip()
    by = Actor(user=None, ip=client_ip(request), label=actor_label(client))
    try:
        case = services.case_create(
            by, title=title, channel=Channel.OPEN311, category=category, street=street,
            community=_community(street, address), description=full_text,
            address=address or (_("地址编号 %(a)s") % {"a": address_id[:60]} if address_id else ""),
            latitude=latitude, longitude=longitude,
            requester_name=(_param(request, "last_name") + _param(request, "first_name")),
            requester_phone=_param(request, "phone"),
            note=_("经 Open311 接入系统“%(n)s”提交") % {"n": client.name},
        )
    except services.CaseError as exc:
        field = SERVICE_FIELD.get(exc.field, exc.field)
        raise Open311Error(400, f"{field}: {exc.message}" if field else exc.message) from None
    row = {
        "service_request_id": case.tracking_code,
        "token": token_for(case.tracking_code),
        "service_notice": _("已受理,查询码 %(c)s,将在 %(d)s 内办理") % {
            "c": case.tracking_code, "d": category.deadline_label},
        "account_id": _param(request, "account_id") or None,
    }
    return render(fmt, "service_requests", "request", [row], status=201)


@_endpoint
def requests(request: HttpRequest, fmt: str) -> HttpResponse:
    """GET: the client's requests with the spec's filters; POST: file a new request."""
    _only(request, "GET", "HEAD", "POST")
    if request.method == "POST":
        return _create_request(request, fmt)
    return _list_requests(request, fmt, _client(request))


@_endpoint
def request_detail(request: HttpRequest, fmt: str, service_request_id: str) -> HttpResponse:
    _only(request, "GET", "HEAD")
    client = _client(request)
    cases = _own_requests(client)
    if (street := _jurisdiction(request, client)) is not None:
        cases = cases.filter(street=street)
    case = cases.filter(tracking_code=service_request_id).first()
    if case is None:
        raise Open311Error(404, _("没有编号为“%(i)s”的请求") % {"i": service_request_id})
    return render(fmt, "service_requests", "request", [request_out(case)])


@_endpoint
def token_detail(request: HttpRequest, fmt: str, token: str) -> HttpResponse:
    _only(request, "GET", "HEAD")
    client = _client(request)
    request_id = request_id_for_token(token)
    if request_id is None or not _own_requests(client).filter(tracking_code=request_id).exists():
        raise Open311Error(404, _("没有这个 token"))
    return render(fmt, "service_requests", "request", [{"service_request_id": request_id, "token": token}])


def not_found(request: HttpRequest, path: str = "") -> HttpResponse:
    fmt = "json" if path.endswith(".json") else "xml"
    return error_response(fmt, 404, _("没有这个资源:%(p)s(格式须为 .json 或 .xml)") % {"p": path})

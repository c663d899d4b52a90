"""JSON API of work records, mounted by jiedao.api under /api/records/.

Same scopes and services as the pages: the 通报 is readable by holders of BUSINESS_READ or
DISTRICT_STATS for their district; a figure is written through
``services.indicator_value_set`` (district statisticians for every street of their district,
a street's leaders and 经济发展办 staff for their own street). Tallies are listed within the
caller's BUSINESS_READ scope. Errors: 400 ``{"detail", "field"}``; 404 for anything absent or
out of scope; 422 when the body does not fit the schema.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest
from ninja import Field, Query, Router, Schema

from jiedao.accounts.access import has_cap, scoped
from jiedao.accounts.roles import Cap
from jiedao.audit.trail import Actor
from jiedao.core.models import OrgUnit

from . import indicators as ind
from . import services
from .models import Indicator, Tally

router = Router(tags=["工作记录"])


class ErrorOut(Schema):
    detail: str
    field: str = ""


class ValidationErrorOut(Schema):
    detail: list[dict]


ERRORS = {400: ErrorOut, 404: ErrorOut, 422: ValidationErrorOut}


class BulletinRowOut(Schema):
    indicator: str
    indicator_code: str
    unit: str
    street: str
    street_code: str
    target: Decimal | None
    actual: Decimal | None
    last_year: Decimal | None
    progress: Decimal | None = Field(description="完成进度(%),保留两位小数")
    yoy: Decimal | None = Field(description="同比增长(%),上年同期缺失时为 null")
    rank: int | None = Field(description="全区排名(并列同名次);缺数据时为 null")


class BulletinQuery(Schema):
    year: int = Field(ge=2000, le=2100)
    month: int = Field(ge=1, le=12)
    district: str = Field("", description="区的区划代码;可省略(取调用者所在的区)")


@router.get("/indicators/bulletin", response={200: list[BulletinRowOut], **ERRORS},
            summary="经济指标月度通报")
def bulletin(request: HttpRequest, query: Query[BulletinQuery]):
    districts = ind.districts_for(request.user)
    if query.district:
        districts = [d for d in districts if d.code == query.district]
    if not districts:
        raise Http404
    rows = ind.bulletin(districts[0], query.year, query.month)
    return [BulletinRowOut(indicator=r.indicator.name, indicator_code=r.indicator.code,
                           unit=r.indicator.unit, street=r.street.name,
                           street_code=r.street.code, target=r.target, actual=r.actual,
                           last_year=r.last_year, progress=r.progress, yoy=r.yoy, rank=r.rank)
            for r in rows]


class ValueIn(Schema):
    indicator: str = Field(description="指标代码,如 foreign-capital")
    street: str = Field(description="街道区划代码")
    year: int = Field(ge=2000, le=2100)
    month: int = Field(ge=1, le=12)
    actual: Decimal = Field(description="1–N月累计完成")


class ValueOut(Schema):
    indicator: str
    street: str
    year: int
    month: int
    actual: Decimal


@router.put("/indicators/values", response={200: ValueOut, **ERRORS},
            summary="录入或更正一个街道某月的累计完成数")
def put_value(request: HttpRequest, payload: ValueIn):
    indicator = Indicator.objects.filter(code=payload.indicator, is_active=True).first()
    street = OrgUnit.objects.filter(code=payload.street, kind="street", is_active=True).first()
    if indicator is None or street is None or not ind.may_enter(request.user, street):
        raise Http404
    try:
        value = services.indicator_value_set(Actor.of(request), indicator=indicator,
                                             street=street, year=payload.year,
                                             month=payload.month, actual=payload.actual)
    except ValidationError as exc:
        field, messages = next(iter(getattr(exc, "message_dict", {"": exc.messages}).items()))
        return 400, ErrorOut(detail="；".join(messages), field=field)
    return ValueOut(indicator=indicator.code, street=street.code, year=value.year,
                    month=value.month, actual=value.actual)


class TallyOut(Schema):
    id: int
    date: dt.date
    unit: str
    activity: str
    measure: str
    quantity: Decimal
    note: str


class TallyQuery(Schema):
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    limit: int = Field(100, ge=1, le=1000)
    offset: int = Field(0, ge=0)


@router.get("/tallies", response={200: list[TallyOut], **ERRORS}, summary="工作量记录")
def tallies(request: HttpRequest, query: Query[TallyQuery]):
    if not has_cap(request.user, Cap.BUSINESS_READ):
        raise Http404
    qs = scoped(Tally.objects.select_related("org_unit", "activity"), request.user,
                Cap.BUSINESS_READ)
    if query.date_from:
        qs = qs.filter(date__gte=query.date_from)
    if query.date_to:
        qs = qs.filter(date__lte=query.date_to)
    rows = qs.order_by("-date", "-pk")[query.offset:query.offset + query.limit]
    return [TallyOut(id=t.pk, date=t.date, unit=t.org_unit.name, activity=t.activity.name,
                     measure=t.activity.measure, quantity=t.quantity, note=t.note) for t in rows]

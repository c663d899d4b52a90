"""Open311 GeoReport v2: every endpoint in JSON and XML, validated against the spec's shapes.

The JSON schemas below follow the GeoReport v2 specification (wiki.open311.org/GeoReport_v2)
and the JSON schemas published for it, with the spec's own looseness kept (nullable
optional strings) and two tightenings it recommends: string ids, ISO 8601 times with an
offset.
"""

import datetime as dt
import io
import xml.etree.ElementTree as ET
from urllib.parse import urlencode

import jsonschema
import pytest
from django.core.management import call_command
from django.utils import timezone

from jiedao.audit.models import AuditEvent
from jiedao.audit.trail import Actor
from jiedao.cases import open311, services
from jiedao.cases.models import Case, Category, Channel, Open311Client, Status

BASE = "/open311/v2"
ISO_OFFSET = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d([.]\d+)?(Z|[+-]\d\d:\d\d)$"
NULLABLE_STRING = {"type": ["string", "null"]}

ERRORS_SCHEMA = {
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "required": ["code", "description"],
        "properties": {"code": {"type": "integer"}, "description": {"type": "string", "minLength": 1}},
        "additionalProperties": False,
    },
}

DISCOVERY_SCHEMA = {
    "type": "object",
    "required": ["changeset", "contact", "key_service", "endpoints"],
    "properties": {
        "changeset": {"type": "string", "pattern": ISO_OFFSET},
        "contact": {"type": "string"},
        "key_service": {"type": "string"},
        "endpoints": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["specification", "url", "changeset", "type", "formats"],
                "properties": {
                    "specification": {"type": "string"},
                    "url": {"type": "string"},
                    "changeset": {"type": "string", "pattern": ISO_OFFSET},
                    "type": {"enum": ["production", "test"]},
                    "formats": {"type": "array",
                                "items": {"enum": ["text/xml", "application/json"]}},
                },
            },
        },
    },
}

SERVICES_SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["service_code", "service_name", "metadata", "type"],
        "properties": {
            "service_code": {"type": "string", "minLength": 1},
            "service_name": {"type": "string", "minLength": 1},
            "description": NULLABLE_STRING,
            "metadata": {"type": "boolean"},
            "type": {"enum": ["realtime", "batch", "blackbox"]},
            "keywords": NULLABLE_STRING,
            "group": NULLABLE_STRING,
        },
        "additionalProperties": False,
    },
}

SERVICE_DEFINITION_SCHEMA = {
    "type": "object",
    "required": ["service_code", "attributes"],
    "properties": {
        "service_code": {"type": "string"},
        "attributes": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["variable", "code", "datatype", "required", "order", "description"],
                "properties": {
                    "variable": {"type": "boolean"},
                    "code": {"type": "string"},
                    "datatype": {"enum": ["string", "number", "datetime", "text", "singlevaluelist",
                                          "multivaluelist"]},
                    "required": {"type": "boolean"},
                    "datatype_description": NULLABLE_STRING,
                    "order": {"type": "integer"},
                    "description": {"type": "string"},
                    "values": {
                        "type": "array",
                        "items": {"type": "object", "required": ["key", "name"],
                                  "properties": {"key": {"type": "string"}, "name": {"type": "string"}}},
                    },
                },
            },
        },
    },
    "additionalProperties": False,
}

POST_RESPONSE_SCHEMA = {
    "type": "array",
    "minItems": 1,
    "maxItems": 1,
    "items": {
        "type": "object",
        "anyOf": [{"required": ["service_request_id"]}, {"required": ["token"]}],
        "properties": {
            "service_request_id": {"type": "string", "minLength": 1},
            "token": {"type": "string", "minLength": 1},
            "service_notice": NULLABLE_STRING,
            "account_id": NULLABLE_STRING,
        },
        "additionalProperties": False,
    },
}

TOKEN_SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["token", "service_request_id"],
        "properties": {"service_request_id": NULLABLE_STRING, "token": {"type": "string"}},
        "additionalProperties": False,
    },
}

REQUESTS_SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["service_request_id", "status", "service_code", "requested_datetime"],
        "properties": {
            "service_request_id": {"type": "string", "minLength": 1},
            "status": {"enum": ["open", "closed"]},
            "status_notes": NULLABLE_STRING,
            "service_name": NULLABLE_STRING,
            "service_code": {"type": "string"},
            "description": NULLABLE_STRING,
            "agency_responsible": NULLABLE_STRING,
            "service_notice": NULLABLE_STRING,
            "requested_datetime": {"type": "string", "pattern": ISO_OFFSET},
            "updated_datetime": {"type": ["string", "null"], "pattern": ISO_OFFSET},
            "expected_datetime": {"type": ["string", "null"], "pattern": ISO_OFFSET},
            "address": NULLABLE_STRING,
            "address_id": NULLABLE_STRING,
            "zipcode": NULLABLE_STRING,
            "lat": {"type": ["number", "null"]},
            "long": {"type": ["number", "null"]},
            "media_url": NULLABLE_STRING,
        },
        "additionalProperties": False,
    },
}

# XML: the root element and the element of each item, per endpoint.
XML_SHAPES = {
    "errors": ("errors", "error", {"code", "description"}),
    "services": ("services", "service", {"service_code", "service_name", "metadata", "type"}),
    "post": ("service_requests", "request", {"service_request_id", "service_notice"}),
    "token": ("service_requests", "request", {"service_request_id", "token"}),
    "requests": ("service_requests", "request", {"service_request_id", "status", "service_code",
                                                 "requested_datetime", "status_notes"}),
}


def check_json(response, schema, status=200):
    assert response.status_code == status, response.content.decode()
    assert response["Content-Type"].startswith("application/json")
    data = response.json()
    jsonschema.validate(data, schema)
    return data


def check_xml(response, shape, status=200):
    """Parse the XML answer and check the element structure; return the items as dicts."""
    assert response.status_code == status, response.content.decode()
    assert response["Content-Type"].startswith("text/xml")
    root = ET.fromstring(response.content)
    root_tag, item_tag, required = XML_SHAPES[shape]
    assert root.tag == root_tag
    items = []
    for child in root:
        assert child.tag == item_tag
        fields = {element.tag: (element.text or "") for element in child}
        assert required <= set(fields), f"{required - set(fields)} missing in {fields}"
        items.append(fields)
    return items


@pytest.fixture
def client_key(world):
    _client, plain = open311.issue_key(Actor.system("test"), "12345平台", world.street)
    return plain


@pytest.fixture
def open_key(world):
    """A client not bound to a street."""
    _client, plain = open311.issue_key(Actor.system("test"), "区城管平台")
    return plain


def post(client, fmt, data, query=""):
    return client.post(f"{BASE}/requests.{fmt}{query}", data=urlencode(data, doseq=True),
                       content_type="application/x-www-form-urlencoded")


def order(key, **extra):
    data = {"api_key": key, "jurisdiction_id": "360103012", "service_code": "svc-housekeeping",
            "address_string": "兰宫路社区 3 栋 2 单元 501", "description": "家里需要打扫卫生\n老人行动不便",
            "first_name": "三", "last_name": "张", "phone": "13800138000",
            "attribute[appointment_time]": "2026-12-01T09:00:00+08:00"}
    data.update(extra)
    return {k: v for k, v in data.items() if v is not None}


# --- discovery and services ----------------------------------------------------------------------

def test_discovery_json_and_xml(client, world):
    data = check_json(client.get(f"{BASE}/discovery.json"), DISCOVERY_SCHEMA)
    assert data["endpoints"][0]["url"] == "http://testserver/open311/v2"
    root = ET.fromstring(client.get(f"{BASE}/discovery.xml").content)
    assert root.tag == "discovery"
    endpoint = root.find("endpoints/endpoint")
    assert endpoint.findtext("specification") == open311.SPECIFICATION
    assert [f.text for f in endpoint.findall("formats/format")] == ["text/xml", "application/json"]


def test_services_list_public_active_categories(client, world):
    data = check_json(client.get(f"{BASE}/services.json?jurisdiction_id=360103012"), SERVICES_SCHEMA)
    codes = {s["service_code"]: s for s in data}
    expected = set(Category.objects.filter(public=True, is_active=True).values_list("code", flat=True))
    assert set(codes) == expected
    assert "petition-general" not in codes  # not public
    assert codes["svc-housekeeping"]["metadata"] is True
    assert codes["svc-housekeeping"]["group"] == "在职人群"
    assert codes["dispute-family"]["metadata"] is True
    assert codes["part-traffic"]["metadata"] is False

    Category.objects.filter(code="svc-tutoring").update(is_active=False)
    items = check_xml(client.get(f"{BASE}/services.xml"), "services")
    assert "svc-tutoring" not in {i["service_code"] for i in items}
    assert {i["metadata"] for i in items} == {"true", "false"}


def test_services_unknown_jurisdiction_is_404(client, world):
    data = check_json(client.get(f"{BASE}/services.json?jurisdiction_id=999999999"), ERRORS_SCHEMA, 404)
    assert "jurisdiction_id" in data[0]["description"]
    check_xml(client.get(f"{BASE}/services.xml?jurisdiction_id=999999999"), "errors", 404)


def test_service_definitions(client, world):
    data = check_json(client.get(f"{BASE}/services/dispute-family.json"), SERVICE_DEFINITION_SCHEMA)
    mediation = next(a for a in data["attributes"] if a["code"] == "mediation")
    assert mediation["required"] is True and mediation["datatype"] == "singlevaluelist"
    assert {v["key"] for v in mediation["values"]} == {"yes", "no"}

    data = check_json(client.get(f"{BASE}/services/part-traffic.json"), SERVICE_DEFINITION_SCHEMA)
    assert data == {"service_code": "part-traffic", "attributes": []}

    root = ET.fromstring(client.get(f"{BASE}/services/svc-housekeeping.xml").content)
    assert root.tag == "service_definition"
    assert root.findtext("service_code") == "svc-housekeeping"
    attributes = root.findall("attributes/attribute")
    assert [a.findtext("code") for a in attributes] == ["appointment_time", "contact_person"]
    assert attributes[0].findtext("datatype") == "datetime"
    assert attributes[0].findtext("required") == "false"


def test_unknown_service_definition_is_404(client, world):
    data = check_json(client.get(f"{BASE}/services/no-such.json"), ERRORS_SCHEMA, 404)
    assert "no-such" in data[0]["description"]
    items = check_xml(client.get(f"{BASE}/services/petition-general.xml"), "errors", 404)
    assert items[0]["code"] == "404"


def test_unknown_path_and_format_get_spec_errors(client, world):
    check_json(client.get(f"{BASE}/nothing.json"), ERRORS_SCHEMA, 404)
    check_xml(client.get(f"{BASE}/services.csv"), "errors", 404)
    check_json(client.delete(f"{BASE}/services.json"), ERRORS_SCHEMA, 400)


# --- POST requests ----------------------------------------------------------------------------------

def test_post_request_json_creates_the_case(client, world, client_key):
    response = post(client, "json", order(client_key, account_id="acct-7"))
    data = check_json(response, POST_RESPONSE_SCHEMA, 201)
    row = data[0]
    case = Case.objects.get(tracking_code=row["service_request_id"])
    assert row["account_id"] == "acct-7"
    assert case.tracking_code in row["service_notice"]
    assert case.channel == Channel.OPEN311
    assert case.category.code == "svc-housekeeping"
    assert case.street == world.street
    assert case.org_unit == world.units["360103012001"]  # the address names 兰宫路社区
    assert case.requester_name == "张三" and case.requester_phone == "13800138000"
    assert case.title == "家里需要打扫卫生"
    assert "【预约时间】2026-12-01T09:00:00+08:00" in case.description
    assert case.status == Status.RECEIVED
    created = case.events.get()
    assert created.actor_label == "open311:12345平台"
    audit = AuditEvent.objects.get(event_type="cases.create", target_id=str(case.pk))
    assert audit.actor_label == "open311:12345平台"


def test_post_request_xml_with_coordinates_and_query_jurisdiction(client, world, open_key):
    data = order(open_key, address_string=None, jurisdiction_id=None, lat="28.668", long="115.891",
                 service_code="part-traffic", description="路灯不亮", **{"attribute[appointment_time]": None})
    items = check_xml(post(client, "xml", data, "?jurisdiction_id=360103012"), "post", 201)
    case = Case.objects.get(tracking_code=items[0]["service_request_id"])
    assert case.street == world.street and case.org_unit == world.street
    assert str(case.latitude) == "28.668000" and str(case.longitude) == "115.891000"
    assert items[0]["token"] == open311.token_for(case.tracking_code)


def test_post_dispute_with_required_attribute(client, world, client_key):
    data = order(client_key, service_code="dispute-family", description="楼上漏水",
                 **{"attribute[appointment_time]": None, "attribute[mediation]": "yes",
                    "attribute[parties]": "楼上住户"})
    row = check_json(post(client, "json", data), POST_RESPONSE_SCHEMA, 201)[0]
    case = Case.objects.get(tracking_code=row["service_request_id"])
    assert "【是否同意由红管家调解】同意" in case.description
    assert "【纠纷涉及的对象】楼上住户" in case.description


BAD_POSTS = [
    # (what, changes to the good order, status, words the description must contain)
    ("no api_key", {"api_key": None}, 403, "api_key"),
    ("bad api_key", {"api_key": "o311_wrong"}, 403, "api_key"),
    ("unknown service", {"service_code": "no-such"}, 400, "service_code"),
    ("non-public service", {"service_code": "petition-general"}, 400, "service_code"),
    ("no service_code", {"service_code": None}, 400, "service_code"),
    ("no location", {"address_string": None}, 400, "lat/long"),
    ("lat without long", {"address_string": None, "lat": "28.6"}, 400, "long"),
    ("lat not a number", {"lat": "north", "long": "115.8"}, 400, "lat"),
    ("lat out of range", {"lat": "128.6", "long": "115.8"}, 400, "lat"),
    ("bad phone", {"phone": "12345"}, 400, "phone"),
    ("unknown attribute", {"attribute[colour]": "red"}, 400, "attribute[colour]"),
    ("bad datetime attribute", {"attribute[appointment_time]": "明天上午"}, 400, "appointment_time"),
    ("datetime attribute in year 1", {"attribute[appointment_time]": "0001-01-01T00:00:00+08:00"}, 400,
     "appointment_time"),
    ("datetime attribute at the end of time", {"attribute[appointment_time]": "9999-12-31T23:59:59-23:59"},
     400, "appointment_time"),
    ("missing required attribute", {"service_code": "dispute-family", "attribute[appointment_time]": None},
     400, "attribute[mediation]"),
    ("bad list value", {"service_code": "dispute-family", "attribute[appointment_time]": None,
                        "attribute[mediation]": "maybe"}, 400, "attribute[mediation]"),
    ("unknown jurisdiction", {"jurisdiction_id": "360103999"}, 404, "jurisdiction_id"),
    ("another street", {"jurisdiction_id": "360103001"}, 403, "朝农街道"),
    # too long: refused with the parameter's name, never cut short in silence
    ("address too long", {"address_string": "兰宫路社区" + "很长的地址" * 40}, 400, "address_string"),
    ("description too long", {"description": "楼道" * 2001}, 400, "description"),
    ("last_name too long", {"last_name": "张" * 26}, 400, "last_name"),
    ("media_url not a web address", {"media_url": "javascript:alert(1)"}, 400, "media_url"),
]


def test_bad_posts_get_spec_errors_and_create_nothing(client, world, client_key):
    # One world for all the cases (building it is the slow part).
    for what, changes, status, words in BAD_POSTS:
        for fmt in ("json", "xml"):
            before = Case.objects.count()
            response = post(client, fmt, order(client_key, **changes))
            if fmt == "json":
                description = check_json(response, ERRORS_SCHEMA, status)[0]["description"]
            else:
                item = check_xml(response, "errors", status)[0]
                assert item["code"] == str(status), what
                description = item["description"]
            assert words in description, (what, description)
            assert Case.objects.count() == before, what


def test_control_characters_never_break_the_xml(client, world, client_key):
    """A request whose text holds characters XML cannot carry is stored, and every XML answer
    that shows it (or echoes them in an error) still parses: they are left out of the XML."""
    data = order(client_key, address_string="兰宫路社区\x0b3栋", description="控制字符\x01\x08测试")
    code = check_json(post(client, "json", data), POST_RESPONSE_SCHEMA, 201)[0]["service_request_id"]
    case = Case.objects.get(tracking_code=code)
    assert "\x01" in case.description  # kept as sent; only the XML leaves it out
    one = check_xml(client.get(f"{BASE}/requests/{code}.xml?api_key={client_key}"), "requests")
    assert one[0]["description"].startswith("控制字符测试") and one[0]["address"] == "兰宫路社区3栋"
    listed = check_xml(client.get(f"{BASE}/requests.xml?api_key={client_key}"), "requests")
    assert code in {item["service_request_id"] for item in listed}
    check_xml(client.get(f"{BASE}/services/%01x.xml"), "errors", 404)
    check_xml(client.get(f"{BASE}/requests/%01.xml?api_key={client_key}"), "errors", 404)


def test_a_body_django_cannot_read_gets_the_spec_error(client, world, client_key):
    body = urlencode(order(client_key), encoding="gbk")  # Django reads forms in UTF-8 only
    response = client.post(f"{BASE}/requests.json", data=body,
                           content_type="application/x-www-form-urlencoded; charset=GBK")
    assert "请求体无法解析" in check_json(response, ERRORS_SCHEMA, 400)[0]["description"]
    assert not Case.objects.exists()


def test_an_empty_body_field_does_not_hide_the_query_string(client, world, client_key, open_key):
    data = order(open_key, jurisdiction_id="")
    created = post(client, "json", data, "?jurisdiction_id=360103012")
    code = check_json(created, POST_RESPONSE_SCHEMA, 201)[0]["service_request_id"]
    assert Case.objects.get(tracking_code=code).street == world.street
    keyed = post(client, "json", order(client_key, api_key=""), f"?api_key={client_key}")
    check_json(keyed, POST_RESPONSE_SCHEMA, 201)


def test_revoked_key_is_refused(client, world, client_key):
    open311.revoke_key(Actor.system("test"), Open311Client.objects.get(name="12345平台"))
    check_json(post(client, "json", order(client_key)), ERRORS_SCHEMA, 403)
    assert not Case.objects.exists()


# --- tokens and GET requests -------------------------------------------------------------------------

@pytest.fixture
def filed(client, world, client_key):
    """Three requests filed by the 12345 platform: two service orders and one hazard."""
    ids = []
    for extra in ({}, {"description": "再次预约保洁"},
                  {"service_code": "part-traffic", "description": "井盖缺失",
                   "attribute[appointment_time]": None}):
        row = check_json(post(client, "json", order(client_key, **extra)), POST_RESPONSE_SCHEMA, 201)[0]
        ids.append(row["service_request_id"])
    return ids


def test_tokens(client, world, client_key, open_key, filed):
    token = open311.token_for(filed[0])
    data = check_json(client.get(f"{BASE}/tokens/{token}.json?api_key={client_key}"), TOKEN_SCHEMA)
    assert data == [{"service_request_id": filed[0], "token": token}]
    items = check_xml(client.get(f"{BASE}/tokens/{token}.xml?api_key={client_key}"), "token")
    assert items[0]["service_request_id"] == filed[0]
    forged = "0" * 24 + "-" + filed[0]
    check_json(client.get(f"{BASE}/tokens/{forged}.json?api_key={client_key}"), ERRORS_SCHEMA, 404)
    # Another client cannot read this client's token, nor anyone without a key.
    check_json(client.get(f"{BASE}/tokens/{token}.json?api_key={open_key}"), ERRORS_SCHEMA, 404)
    check_xml(client.get(f"{BASE}/tokens/{token}.xml"), "errors", 403)


def test_get_requests_json_and_xml(client, world, client_key, filed):
    data = check_json(client.get(f"{BASE}/requests.json?api_key={client_key}"), REQUESTS_SCHEMA)
    assert [r["service_request_id"] for r in data] == list(reversed(filed))
    assert {r["status"] for r in data} == {"open"}
    assert data[0]["status_notes"] == "已受理,待派单"
    assert data[0]["requested_datetime"].endswith("+08:00")
    assert "13800138000" not in str(data) and "张三" not in str(data)  # no personal data
    items = check_xml(client.get(f"{BASE}/requests.xml?api_key={client_key}&jurisdiction_id=360103012"),
                      "requests")
    assert [i["service_request_id"] for i in items] == list(reversed(filed))


def test_get_requests_filters(client, world, client_key, filed):
    by = Actor(user=world.users["community_worker"])
    case = Case.objects.get(tracking_code=filed[2])
    services.dispatch(by, case, version=case.version, handler_unit=world.units["360103012/城管办"])
    services.accept(Actor(user=world.users["staff"]), case, version=case.version)
    services.resolve(Actor(user=world.users["staff"]), case, version=case.version, outcome="solved",
                     note="已补装井盖")
    url = f"{BASE}/requests.json?api_key={client_key}"

    closed = check_json(client.get(url + "&status=closed"), REQUESTS_SCHEMA)
    assert [r["service_request_id"] for r in closed] == [filed[2]]
    assert closed[0]["status_notes"] == "已办结,待回访:解决"
    assert closed[0]["agency_responsible"] == "城管办"
    opened = check_json(client.get(url + "&status=open"), REQUESTS_SCHEMA)
    assert {r["service_request_id"] for r in opened} == set(filed[:2])
    by_code = check_json(client.get(url + "&service_code=part-traffic"), REQUESTS_SCHEMA)
    assert [r["service_request_id"] for r in by_code] == [filed[2]]
    by_id = check_json(client.get(url + f"&service_request_id={filed[0]},{filed[2]}&status=open"),
                       REQUESTS_SCHEMA)  # ids given: the other filters are ignored
    assert {r["service_request_id"] for r in by_id} == {filed[0], filed[2]}
    future = check_json(client.get(url + "&start_date=2099-01-01T00:00:00%2B08:00"), REQUESTS_SCHEMA)
    assert future == []
    now = timezone.localtime()
    window = (f"&start_date={(now - dt.timedelta(hours=1)).isoformat()}"
              f"&end_date={(now + dt.timedelta(hours=1)).isoformat()}").replace("+", "%2B")
    assert len(check_json(client.get(url + window), REQUESTS_SCHEMA)) == 3
    # An unencoded "+" arrives as a space and is still understood.
    assert len(check_json(client.get(url + window.replace("%2B", "+")), REQUESTS_SCHEMA)) == 3


def test_get_requests_default_window_is_90_days(client, world, client_key, filed):
    label = "open311:12345平台"
    old = services.case_create(Actor.system(label), title="旧的", channel=Channel.OPEN311,
                               category=Category.objects.get(code="part-other"), street=world.street,
                               at=timezone.now() - dt.timedelta(days=100))
    url = f"{BASE}/requests.json?api_key={client_key}"
    ids = {r["service_request_id"] for r in check_json(client.get(url), REQUESTS_SCHEMA)}
    assert old.tracking_code not in ids and ids == set(filed)
    start = (timezone.localdate() - dt.timedelta(days=120)).isoformat()
    ids = {r["service_request_id"] for r in check_json(client.get(url + f"&start_date={start}"),
                                                        REQUESTS_SCHEMA)}
    assert old.tracking_code in ids


BAD_FILTERS = ["start_date=yesterday", "end_date=2026-13-01", "start_date=2026-11-40T00:00",
               "start_date=2026-11-02&end_date=2026-11-01", "status=pending", "service_code=no-such",
               # beyond the years a date may have: the arithmetic or the database would overflow
               "end_date=0001-01-01", "start_date=0001-01-01T00:00:00%2B08:00",
               "start_date=9999-12-31T23:59:59-23:59", "start_date=%01"]


def test_get_requests_bad_filters_are_400(client, world, client_key, filed):
    for query in BAD_FILTERS:
        response = client.get(f"{BASE}/requests.json?api_key={client_key}&{query}")
        data = check_json(response, ERRORS_SCHEMA, 400)
        assert query.split("=")[0] in data[0]["description"] or "end_date" in data[0]["description"], query
        items = check_xml(client.get(f"{BASE}/requests.xml?api_key={client_key}&{query}"), "errors", 400)
        assert items[0]["code"] == "400"


def test_get_requests_needs_a_key_and_shows_only_own(client, world, client_key, open_key, filed):
    check_json(client.get(f"{BASE}/requests.json"), ERRORS_SCHEMA, 403)
    check_xml(client.get(f"{BASE}/requests.xml?api_key=nope"), "errors", 403)
    assert check_json(client.get(f"{BASE}/requests.json?api_key={open_key}"), REQUESTS_SCHEMA) == []
    # A case filed on the staff pages is not an Open311 request of anyone.
    staff_case = services.case_create(Actor(user=world.users["community_worker"]), title="来电",
                                      channel="phone", category=Category.objects.get(code="part-other"),
                                      org_unit=world.units["360103012001"])
    ids = {r["service_request_id"] for r in
           check_json(client.get(f"{BASE}/requests.json?api_key={client_key}"), REQUESTS_SCHEMA)}
    assert staff_case.tracking_code not in ids
    check_json(client.get(f"{BASE}/requests/{staff_case.tracking_code}.json?api_key={client_key}"),
               ERRORS_SCHEMA, 404)


def test_get_one_request(client, world, client_key, open_key, filed):
    data = check_json(client.get(f"{BASE}/requests/{filed[0]}.json?api_key={client_key}"), REQUESTS_SCHEMA)
    assert len(data) == 1 and data[0]["service_request_id"] == filed[0]
    assert data[0]["service_code"] == "svc-housekeeping"
    items = check_xml(client.get(f"{BASE}/requests/{filed[0]}.xml?api_key={client_key}"), "requests")
    assert items[0]["status"] == "open" and items[0]["lat"] == ""
    check_json(client.get(f"{BASE}/requests/NOSUCH.json?api_key={client_key}"), ERRORS_SCHEMA, 404)
    check_xml(client.get(f"{BASE}/requests/{filed[0]}.xml?api_key={open_key}"), "errors", 404)


def test_merged_and_closed_status_notes(world):
    by = Actor(user=world.users["community_worker"])
    category = Category.objects.get(code="part-other")
    primary = services.case_create(by, title="主", channel="phone", category=category,
                                   org_unit=world.units["360103012001"])
    dup = services.case_create(by, title="重复", channel="phone", category=category,
                               org_unit=world.units["360103012001"])
    services.merge(by, dup, version=dup.version, primary=primary)
    dup.refresh_from_db()
    assert open311.status_of(dup) == "closed"
    assert open311.status_notes(dup) == f"已并入工单 {primary.tracking_code} 一并办理"
    services.supervise(Actor(user=world.users["leader"]), primary, version=primary.version, note="抓紧")
    assert open311.status_notes(primary) == "已受理,待派单;督办中"


# --- the key command ------------------------------------------------------------------------------

def test_key_command_issue_list_revoke(world):
    out, err = io.StringIO(), io.StringIO()
    call_command("open311", "key", "物业平台", "--street", "360103012", stdout=out, stderr=err)
    plain = out.getvalue().strip()
    assert plain.startswith("o311_") and "只显示这一次" in err.getvalue()
    row = Open311Client.objects.get(name="物业平台")
    assert row.street == world.street
    assert row.key_digest == open311.key_digest(plain) and plain not in (row.key_digest, row.key_prefix)
    assert open311.client_for_key(plain) == row
    assert AuditEvent.objects.filter(event_type="cases.open311_key_issue", target_id=str(row.pk)).exists()

    out = io.StringIO()
    call_command("open311", "list", stdout=out)
    assert "物业平台" in out.getvalue() and "有效" in out.getvalue() and plain not in out.getvalue()

    with pytest.raises(Exception, match="已有有效的 api_key"):
        call_command("open311", "key", "物业平台", stdout=io.StringIO(), stderr=io.StringIO())
    call_command("open311", "revoke", "物业平台", stdout=io.StringIO())
    assert open311.client_for_key(plain) is None
    out = io.StringIO()
    call_command("open311", "key", "物业平台", stdout=out, stderr=io.StringIO())  # a new key
    assert open311.client_for_key(out.getvalue().strip()) == Open311Client.objects.get(name="物业平台")
    with pytest.raises(Exception, match="没有区划代码"):
        call_command("open311", "key", "别的", "--street", "999", stdout=io.StringIO(), stderr=io.StringIO())

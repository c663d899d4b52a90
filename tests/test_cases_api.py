"""The cases JSON API (/api/cases/): token auth, scopes, every step, conflicts, bad input, masking."""

import datetime as dt
import io
import json

import pytest
from django.test import Client

from jiedao.accounts import tokens
from jiedao.accounts.models import ApiToken
from jiedao.accounts.roles import Role
from jiedao.audit.models import AuditEvent
from jiedao.audit.trail import Actor
from jiedao.cases import services
from jiedao.cases.models import Attachment, Case, Category, Channel, Status

API = "/api/cases/"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


class Api:
    """A test client speaking JSON with a bearer token."""

    def __init__(self, user):
        _row, self.token = tokens.issue(Actor.system("test"), user, "test")
        self.client = Client(HTTP_AUTHORIZATION=f"Bearer {self.token}")
        self.user = user

    def get(self, path, **params):
        return self.client.get(API + path, params)

    def post(self, path, data=None):
        return self.client.post(API + path, json.dumps(data or {}), content_type="application/json")

    def step(self, case_id, action, status=200, **data):
        response = self.post(f"{case_id}/{action}", data)
        assert response.status_code == status, response.content.decode()
        return response.json()


@pytest.fixture
def apis(world):
    return {role: Api(world.users[role]) for role in (Role.COMMUNITY_WORKER, Role.STAFF, Role.LEADER,
                                                      Role.PROVIDER, Role.GRID_WORKER, Role.RESIDENT)}


@pytest.fixture
def other(world):
    """The community worker of 南浦街道."""
    return Api(world.other[Role.COMMUNITY_WORKER])


def new_case(world, **extra):
    data = dict(title="楼道灯坏了", channel=Channel.PHONE,
                category=Category.objects.get(code="part-facilities"), org_unit=world.units["360103012001"],
                requester_name="张三", requester_phone="13800138000")
    data.update(extra)
    return services.case_create(Actor(user=world.users[Role.COMMUNITY_WORKER]), **data)


CREATE = {"title": "上门家政", "category": "svc-housekeeping", "org_unit_code": "360103012001",
          "description": "老人需要打扫", "address": "兰宫路 3 栋", "requester_name": "李四",
          "requester_phone": "+86 139 0013 9000", "channel": "phone"}


# --- authentication and scope ------------------------------------------------------------------

def test_needs_authentication(world):
    """No token, a bad one or a revoked one: 401 in Chinese, for a read and for a step alike
    (a POST without a session cookie has no CSRF check to fail)."""
    case = new_case(world)
    shequ = Api(world.users[Role.COMMUNITY_WORKER])
    tokens.revoke(Actor.system("test"), ApiToken.objects.get(user=shequ.user))
    for client in (Client(), Client(HTTP_AUTHORIZATION="Bearer jd_nonsense"), shequ.client):
        posts = [client.post(path, body, content_type="application/json")
                 for path, body in ((API, json.dumps(CREATE)), (f"{API}{case.pk}/dispatch", "{}"))]
        for response in (client.get(API), *posts):
            assert response.status_code == 401, response.content.decode()
            assert response.json()["code"] == "unauthenticated" and "令牌" in response.json()["detail"]
    assert not Case.objects.exclude(pk=case.pk).exists()


def test_session_auth_works_too(client, world):
    case = new_case(world)
    client.force_login(world.users[Role.COMMUNITY_WORKER])
    response = client.get(f"{API}{case.pk}")
    assert response.status_code == 200 and response.json()["tracking_code"] == case.tracking_code


def test_other_street_gets_404_and_sees_nothing(world, apis, other):
    case = new_case(world)
    assert apis[Role.COMMUNITY_WORKER].get(f"{case.pk}").status_code == 200
    assert other.get(f"{case.pk}").status_code == 404
    assert other.get("").json()["count"] == 0
    assert other.post(f"{case.pk}/dispatch", {"version": case.version,
                                              "handler_unit": world.units["360103012/城管办"].pk}
                      ).status_code == 404
    assert other.post(f"{case.pk}/notes", {"note": "偷看"}).status_code == 404
    case.refresh_from_db()
    assert case.status == Status.RECEIVED and case.version == 1
    assert other.get("999999").status_code == 404  # missing looks the same as not yours


def test_provider_sees_only_its_orders(world, apis):
    mine = new_case(world, category=Category.objects.get(code="svc-housekeeping"), title="家政")
    not_mine = new_case(world)
    shequ = apis[Role.COMMUNITY_WORKER]
    shequ.step(mine.pk, "dispatch", version=1, handler=world.users[Role.PROVIDER].pk,
               handler_unit=world.units["360103012001"].pk)
    fuwu = apis[Role.PROVIDER]
    assert [c["id"] for c in fuwu.get("").json()["items"]] == [mine.pk]
    assert fuwu.get(f"{not_mine.pk}").status_code == 404


# --- create ----------------------------------------------------------------------------------------

def test_create_masks_and_normalises(world, apis):
    response = apis[Role.COMMUNITY_WORKER].post("", CREATE)
    assert response.status_code == 201, response.content
    data = response.json()
    case = Case.objects.get(pk=data["id"])
    assert case.requester_phone == "13900139000" and case.org_unit == world.units["360103012001"]
    assert case.channel == Channel.PHONE and case.status == Status.RECEIVED
    assert data["requester_name"] == "李*" and data["requester_phone"] == "139****9000"
    assert data["status_label"] == "待派单" and data["version"] == 1
    assert data["created_at"].endswith("+08:00")
    assert [e["action"] for e in data["timeline"]] == ["create"]
    assert "dispatch" in data["allowed_actions"] and "accept" not in data["allowed_actions"]
    # The answer (built from the case in memory) says what reading the case back says.
    assert apis[Role.COMMUNITY_WORKER].get(f"{case.pk}").json() == data


def test_coordinates_come_back_as_stored(world, apis):
    api = apis[Role.COMMUNITY_WORKER]
    data = api.post("", {**CREATE, "latitude": "28.6830161234567", "longitude": "115.8579639"}).json()
    assert (data["latitude"], data["longitude"]) == ("28.683016", "115.857964")
    assert api.get(f"{data['id']}").json() == data


def test_resident_create_is_their_own_request(world, apis):
    data = apis[Role.RESIDENT].post("", {**CREATE, "channel": "web"}).json()
    case = Case.objects.get(pk=data["id"])
    assert case.requester_user == world.users[Role.RESIDENT]
    assert [c["id"] for c in apis[Role.RESIDENT].get("").json()["items"]] == [case.pk]


@pytest.mark.parametrize(("changes", "status", "field", "words"), [
    ({"requester_phone": "12345"}, 400, "requester_phone", "12345"),
    ({"category": "no-such"}, 400, "category", "no-such"),
    ({"org_unit_code": "360103099001"}, 400, "org_unit_code", "360103099001"),
    ({"org_unit_code": None}, 400, "org_unit", "org_unit"),
    ({"channel": "pigeon"}, 400, "channel", "pigeon"),
    ({"priority": "soon"}, 400, "priority", "soon"),
    ({"title": "  "}, 400, "title", "标题"),
    ({"latitude": "95", "longitude": "115.8"}, 400, "latitude", "95"),
    ({"latitude": "28.6"}, 400, "longitude", "同时给出"),  # half a place
    ({"org_unit_code": "360103001001"}, 403, "org_unit", "南浦社区"),  # another street's community
    # too long: refused with the field's name, never cut short in silence
    ({"title": "楼" * 121}, 400, "title", "120"),
    ({"address": "楼" * 201}, 400, "address", "200"),
    ({"requester_name": "李" * 51}, 400, "requester_name", "50"),
    ({"description": "楼" * 5001}, 400, "description", "5000"),
    ({"note": "楼" * 2001}, 400, "note", "2000"),
])
def test_create_bad_input_names_the_field(world, apis, changes, status, field, words):
    response = apis[Role.COMMUNITY_WORKER].post("", {**CREATE, **changes})
    assert response.status_code == status, response.content
    body = response.json()
    assert body["field"] == field and words in body["detail"]
    assert not Case.objects.exists()


def test_a_step_with_too_long_a_note_names_the_field_and_changes_nothing(world, apis):
    case = new_case(world)
    shequ = apis[Role.COMMUNITY_WORKER]
    for action, data, field in (("dispatch", {"version": 1, "note": "楼" * 2001,
                                              "handler_unit": world.units["360103012/城管办"].pk}, "note"),
                                ("notes", {"note": "楼" * 2001}, "note"),
                                ("supervise", {"version": 1, "note": "督" * 201}, "note")):
        api = apis[Role.LEADER] if action == "supervise" else shequ
        body = api.step(case.pk, action, status=400, **data)
        assert body["field"] == field and "不能超过" in body["detail"], (action, body)
    case.refresh_from_db()
    assert case.version == 1 and case.events.count() == 1  # the intake alone
    shequ.step(case.pk, "dispatch", version=1, handler_unit=world.units["360103012/城管办"].pk)
    keshi = apis[Role.STAFF]
    keshi.step(case.pk, "accept", version=2)
    body = keshi.step(case.pk, "return", status=400, version=3, reason="理" * 2001)
    assert body["field"] == "reason" and "2000" in body["detail"]


def test_create_schema_errors_are_422_with_the_field(world, apis):
    response = apis[Role.COMMUNITY_WORKER].post("", {k: v for k, v in CREATE.items() if k != "title"})
    assert response.status_code == 422
    assert any("title" in error["loc"] for error in response.json()["detail"])
    assert not Case.objects.exists()


# --- every step ------------------------------------------------------------------------------------

def test_walk_every_step(world, apis, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    shequ, keshi, lingdao, fuwu = (apis[r] for r in (Role.COMMUNITY_WORKER, Role.STAFF, Role.LEADER,
                                                     Role.PROVIDER))
    case_id = shequ.post("", CREATE).json()["id"]
    units = world.units

    data = lingdao.step(case_id, "owner", version=1, owner=world.users[Role.LEADER].pk)
    assert data["owner"]["id"] == world.users[Role.LEADER].pk
    data = lingdao.step(case_id, "supervise", version=data["version"], note="三天内办结")
    assert data["supervised_at"] and data["supervision_note"] == "三天内办结"
    data = shequ.step(case_id, "dispatch", version=data["version"], handler_unit=units["360103012/城管办"].pk,
                      note="请城管办处理")
    assert data["status"] == "dispatched" and data["handler_unit"]["name"] == "城管办"
    data = keshi.step(case_id, "return", version=data["version"], reason="不属于城管")
    assert data["status"] == "received" and data["handler_unit"] is None
    data = shequ.step(case_id, "dispatch", version=data["version"], handler=world.users[Role.PROVIDER].pk,
                      handler_unit=units["360103012001"].pk)
    data = shequ.step(case_id, "redispatch", version=data["version"], handler=world.users[Role.PROVIDER].pk,
                      handler_unit=units["360103012001"].pk, note="指定红管家")
    data = fuwu.step(case_id, "accept", version=data["version"], note="收到")
    assert data["status"] == "in_progress" and data["accepted_at"]
    new_deadline = (dt.datetime.fromisoformat(data["deadline_at"]) + dt.timedelta(days=60)).isoformat()
    data = fuwu.step(case_id, "extension", version=data["version"], new_deadline=new_deadline,
                     reason="等配件")
    assert data["extensions"][0]["status"] == "pending"
    data = shequ.step(case_id, "extension/decision", version=data["version"], approve=True)
    assert data["extensions"][0]["status"] == "approved"
    assert dt.datetime.fromisoformat(data["deadline_at"]) == dt.datetime.fromisoformat(new_deadline)
    data = fuwu.step(case_id, "notes", note="已约好周六上门", version=data["version"])

    response = fuwu.client.post(f"{API}{case_id}/attachments",
                                {"file": io.BytesIO(PNG), "stage": "after", "version": data["version"]})
    assert response.status_code == 200, response.content
    data = response.json()
    attachment = data["attachments"][0]
    assert attachment["content_type"] == "image/png" and attachment["stage"] == "after"
    download = fuwu.client.get(attachment["url"])
    assert download.status_code == 200 and b"".join(download.streaming_content) == PNG

    data = fuwu.step(case_id, "resolve", version=data["version"], outcome="solved", note="已打扫完")
    assert data["status"] == "resolved"
    data = shequ.step(case_id, "review", version=data["version"], satisfied=False, solved=False, rating=2,
                      note="不满意")
    assert data["status"] == "in_progress" and data["reopen_count"] == 1
    data = fuwu.step(case_id, "resolve", version=data["version"], outcome="solved", note="重新打扫")
    data = shequ.step(case_id, "review", version=data["version"], satisfied=True, solved=True, rating=5)
    assert data["status"] == "closed" and data["rating"] == 5
    data = shequ.step(case_id, "reopen", version=data["version"], reason="又脏了")
    assert data["status"] == "in_progress" and data["reopen_count"] == 2
    data = fuwu.step(case_id, "resolve", version=data["version"], outcome="explained", note="已解释")
    data = shequ.step(case_id, "close", version=data["version"], note="联系不上")
    assert data["status"] == "closed" and data["outcome"] == "explained"

    assert [e["action"] for e in data["timeline"]] == [
        "create", "assign_owner", "supervise", "dispatch", "return", "dispatch", "redispatch", "accept",
        "extend_request", "extend_approve", "note", "attach", "resolve", "review", "resolve", "review",
        "reopen", "resolve", "close"]
    assert {e["actor"] for e in data["timeline"]} >= {str(world.users[Role.PROVIDER]),
                                                      str(world.users[Role.LEADER])}
    assert AuditEvent.objects.filter(target_id=str(case_id), event_type__startswith="cases.").count() == 19


def test_claim_and_merge(world, apis):
    order = new_case(world, category=Category.objects.get(code="svc-housekeeping"), title="家政")
    hazard = new_case(world)
    fuwu = apis[Role.PROVIDER]
    pool = fuwu.get("pool").json()
    assert [c["id"] for c in pool["items"]] == [order.pk] and pool["items"][0]["requester_name"] == "张*"
    assert fuwu.get(f"{order.pk}").status_code == 404  # not its order yet
    assert fuwu.post(f"{hazard.pk}/claim", {"version": 1}).status_code == 404  # not a service order
    data = fuwu.step(order.pk, "claim", version=1, note="我来")
    assert data["status"] == "in_progress" and data["handler"]["id"] == world.users[Role.PROVIDER].pk
    assert fuwu.get("pool").json()["count"] == 0
    assert apis[Role.PROVIDER].post(f"{order.pk}/claim", {"version": 2}).json()["code"] == "refused"
    assert Api(world.other[Role.PROVIDER]).get("pool").json()["count"] == 0
    primary, dup = new_case(world), new_case(world, title="楼道灯又坏了")
    shequ = apis[Role.COMMUNITY_WORKER]
    data = shequ.step(dup.pk, "merge", version=1, primary=primary.pk, note="重复")
    assert data["status"] == "merged" and data["merged_into"] == primary.tracking_code
    body = shequ.step(primary.pk, "merge", 400, version=1, primary=999999)
    assert body["field"] == "primary"


# --- refusals --------------------------------------------------------------------------------------

def test_conflict_two_staff_dispatching(world, apis):
    case = new_case(world)
    unit = world.units["360103012/城管办"].pk
    first = apis[Role.COMMUNITY_WORKER].step(case.pk, "dispatch", version=1, handler_unit=unit)
    body = apis[Role.LEADER].step(case.pk, "dispatch", 409, version=1,
                                  handler=world.users[Role.PROVIDER].pk)
    assert body["code"] == "conflict" and "已被他人更新" in body["detail"]
    assert case.tracking_code in body["detail"]
    case.refresh_from_db()
    assert case.version == first["version"] == 2 and case.handler_id is None
    assert case.events.count() == 2


def test_note_with_stale_version_is_a_conflict(world, apis):
    case = new_case(world)
    body = apis[Role.COMMUNITY_WORKER].step(case.pk, "notes", 409, note="x", version=7)
    assert body["code"] == "conflict" and body["field"] == "version"
    assert case.events.count() == 1


def test_step_from_wrong_state_is_refused(world, apis):
    case = new_case(world)
    body = apis[Role.COMMUNITY_WORKER].step(case.pk, "resolve", 409, version=1, outcome="solved", note="x")
    assert body["code"] == "refused" and "待派单" in body["detail"]
    case.refresh_from_db()
    assert case.status == Status.RECEIVED and case.version == 1


def test_step_without_the_right_is_403(world, apis):
    case = new_case(world)
    body = apis[Role.COMMUNITY_WORKER].step(case.pk, "supervise", 403, version=1, note="督办")
    assert body["code"] == "forbidden"
    body = apis[Role.COMMUNITY_WORKER].step(case.pk, "owner", 400, version=1,
                                            owner=world.users[Role.COMMUNITY_WORKER].pk)
    assert body["field"] == "owner"
    assert Case.objects.get(pk=case.pk).version == 1


@pytest.mark.parametrize(("action", "data", "field"), [
    ("dispatch", {}, "handler_unit"),
    ("dispatch", {"handler_unit": 999999}, "handler_unit"),
    ("dispatch", {"handler": 999999}, "handler"),
    ("redispatch", {"handler_unit": "UNIT"}, "note"),
    ("return", {"reason": " "}, "reason"),
    ("resolve", {"outcome": "done", "note": "x"}, "outcome"),
    ("review", {"satisfied": True, "rating": 9}, "rating"),
    ("extension/decision", {"approve": True}, "approve"),
])
def test_step_bad_input_names_the_field(world, apis, action, data, field):
    case = new_case(world)
    shequ = apis[Role.COMMUNITY_WORKER]
    if action in ("redispatch", "return", "resolve", "review"):
        shequ.step(case.pk, "dispatch", version=1, handler=world.users[Role.COMMUNITY_WORKER].pk)
        shequ.step(case.pk, "accept", version=2)
        if action == "review":
            shequ.step(case.pk, "resolve", version=3, outcome="solved", note="好了")
    case.refresh_from_db()
    if data.get("handler_unit") == "UNIT":
        data = {**data, "handler_unit": world.units["360103012/城管办"].pk}
    version = case.version
    body = shequ.step(case.pk, action, 400, version=version, **data)
    assert body["field"] == field and body["code"] == "invalid" and body["detail"]
    case.refresh_from_db()
    assert case.version == version


def test_attachment_wrong_type_is_400(world, apis, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    case = new_case(world)
    upload = io.BytesIO(b"MZ\x90\x00 not an image")
    upload.name = "virus.png"
    response = apis[Role.COMMUNITY_WORKER].client.post(f"{API}{case.pk}/attachments", {"file": upload})
    assert response.status_code == 400 and response.json()["field"] == "file"
    assert "virus.png" in response.json()["detail"]
    assert not Attachment.objects.exists()


# --- masking -----------------------------------------------------------------------------------------

def test_masking_and_audited_reveal(world, apis):
    case = new_case(world)
    shequ = apis[Role.COMMUNITY_WORKER]
    listed = shequ.get("").json()["items"][0]
    assert (listed["requester_name"], listed["requester_phone"]) == ("张*", "138****8000")
    masked = shequ.get(f"{case.pk}").json()
    assert masked["requester_phone"] == "138****8000" and masked["revealed"] is False
    assert "13800138000" not in json.dumps(masked)
    assert not AuditEvent.objects.filter(event_type="cases.reveal").exists()

    revealed = shequ.get(f"{case.pk}", reveal=1).json()
    assert (revealed["requester_name"], revealed["requester_phone"]) == ("张三", "13800138000")
    event = AuditEvent.objects.get(event_type="cases.reveal")
    assert event.target_id == str(case.pk) and event.actor == world.users[Role.COMMUNITY_WORKER]

    # A provider never may reveal (a grid worker neither: test below).
    shequ.step(case.pk, "dispatch", version=1, handler=world.users[Role.PROVIDER].pk,
               handler_unit=world.units["360103012001"].pk)
    response = apis[Role.PROVIDER].get(f"{case.pk}", reveal=1)
    assert response.status_code == 403 and response.json()["field"] == "reveal"
    assert apis[Role.PROVIDER].get(f"{case.pk}").json()["requester_name"] == "张*"
    assert AuditEvent.objects.filter(event_type="cases.reveal").count() == 1


def test_the_handling_department_may_reveal_as_on_its_page(world, apis, client):
    """A 科室干部 may reveal the requester of a case handed to the department, through the API
    as on the case page (``permissions.may_reveal``: where the case is placed or handled)."""
    case = new_case(world)
    department = world.units["360103012/城管办"]
    apis[Role.COMMUNITY_WORKER].step(case.pk, "dispatch", version=1, handler_unit=department.pk)
    keshi = apis[Role.STAFF]
    revealed = keshi.get(f"{case.pk}", reveal=1)
    assert revealed.status_code == 200, revealed.content.decode()
    assert revealed.json()["requester_phone"] == "13800138000"
    assert AuditEvent.objects.get(event_type="cases.reveal").actor == keshi.user
    client.force_login(keshi.user)
    assert "显示完整信息" in client.get(f"/cases/{case.pk}/").content.decode()


def test_grid_worker_cannot_reveal(world, apis):
    case = new_case(world, org_unit=world.units["360103012001001"])
    response = apis[Role.GRID_WORKER].get(f"{case.pk}", reveal=1)
    assert response.status_code == 403
    assert apis[Role.GRID_WORKER].get(f"{case.pk}").json()["requester_phone"] == "138****8000"
    # Nor may it find the case by the whole number: each guess at the four hidden digits would
    # be answered. Those who may see phones search by them.
    refused = apis[Role.GRID_WORKER].get("", q="13800138000")
    assert refused.status_code == 400 and refused.json()["field"] == "q"
    assert "权限" in refused.json()["detail"]
    assert apis[Role.GRID_WORKER].get("", q="１３８００１３８０００").status_code == 400  # full-width digits
    found = apis[Role.COMMUNITY_WORKER].get("", q="13800138000").json()["items"]
    assert [c["id"] for c in found] == [case.pk]
    assert apis[Role.GRID_WORKER].get("", q=case.tracking_code).json()["count"] == 1


# --- list filters -----------------------------------------------------------------------------------

def test_list_filters_and_paging(world, apis):
    from django.utils import timezone

    overdue = new_case(world, title="井盖缺失", at=timezone.now() - timezone.timedelta(days=30))
    cases = [new_case(world, title=f"路灯不亮{i}") for i in range(3)]
    order = new_case(world, title="保洁", category=Category.objects.get(code="svc-housekeeping"))
    shequ = apis[Role.COMMUNITY_WORKER]
    services.supervise(Actor(user=world.users[Role.LEADER]), cases[0], version=1, note="督办")

    def ids(**params):
        response = shequ.get("", **params)
        assert response.status_code == 200, response.content
        return [c["id"] for c in response.json()["items"]]

    assert ids(overdue=True) == [overdue.pk]
    assert ids(supervised=True) == [cases[0].pk]
    assert ids(kind="service_order") == [order.pk]
    assert ids(category="svc-housekeeping") == [order.pk]
    assert ids(q="井盖") == [overdue.pk]
    assert ids(q="路灯 不亮") and set(ids(q="路灯")) == {c.pk for c in cases}
    assert ids(q=overdue.tracking_code) == [overdue.pk]
    page = shequ.get("", page_size=2, page=2).json()
    assert page["count"] == 5 and page["pages"] == 3 and len(page["items"]) == 2
    assert ids(status="received,dispatched") and ids(status="closed") == []
    bad = shequ.get("", status="open")
    assert bad.status_code == 400 and bad.json()["field"] == "status"
    assert shequ.get("", category="nope").json()["field"] == "category"
    for params, field in (({"page_size": 1000}, "page_size"), ({"page_size": 0}, "page_size"),
                          ({"page": 0}, "page"), ({"page": 2**63}, "page")):  # 2**63: beyond any offset
        refused = shequ.get("", **params)
        assert refused.status_code == 400 and refused.json()["field"] == field, params  # as the pool
        assert shequ.get("pool", **params).json()["field"] == field
    assert shequ.get("", page="two").status_code == 422  # not a number at all: the schema says so
    assert shequ.get("", page=100_000).json()["items"] == []


def test_an_address_the_api_does_not_have_answers_in_its_format(world, apis):
    """Not the HTML 404 page, and not a redirect to the address with a slash, which clients
    follow as a GET: a POST to /api/cases would be lost without a word."""
    shequ = apis[Role.COMMUNITY_WORKER]
    response = shequ.client.post("/api/cases", json.dumps(CREATE), content_type="application/json")
    assert response.status_code == 404 and response.json() == {
        "detail": "没有这个接口:/api/cases;请用 /api/cases/", "field": "", "code": "not_found"}
    assert not Case.objects.exists()
    for path, hint in (("/api/nothing", "/api/docs"), ("/api/cases/abc", "/api/docs"),
                       ("/api/cases/76/", "请用 /api/cases/76")):
        body = shequ.client.get(path).json()
        assert body["code"] == "not_found" and hint in body["detail"], path


def test_errors_outside_the_steps_are_in_chinese_with_a_code(world, apis):
    shequ = apis[Role.COMMUNITY_WORKER]
    missing = shequ.get("999999")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    assert "权限范围" in missing.json()["detail"]
    bad_json = shequ.client.post(API, "{not json", content_type="application/json")
    assert bad_json.status_code == 400 and bad_json.json()["code"] == "invalid"
    assert "不是有效的 JSON" in bad_json.json()["detail"]
    fuwu = apis[Role.PROVIDER]
    for params, field in (({"page": 0}, "page"), ({"page": 10**7}, "page"), ({"page_size": 0}, "page_size")):
        response = fuwu.get("pool", **params)
        assert response.status_code == 400 and response.json()["field"] == field, params


def test_extension_steps_are_offered_only_when_they_can_be_taken(world, apis):
    case = new_case(world)
    shequ = apis[Role.COMMUNITY_WORKER]
    data = shequ.step(case.pk, "dispatch", version=1, handler=world.users[Role.PROVIDER].pk,
                      handler_unit=world.units["360103012001"].pk)
    data = apis[Role.PROVIDER].step(case.pk, "accept", version=data["version"])
    def offered(role):
        return set(apis[role].get(f"{case.pk}").json()["allowed_actions"])

    assert "extend_request" in offered(Role.PROVIDER)
    assert not offered(Role.LEADER) & {"extend_approve", "extend_reject"}
    far = apis[Role.PROVIDER].post(f"{case.pk}/extension", {
        "version": data["version"], "new_deadline": "9999-12-31T23:59:59-23:59", "reason": "等"})
    assert far.status_code == 400 and far.json()["field"] == "new_deadline"
    later = dt.datetime.fromisoformat(data["deadline_at"]) + dt.timedelta(days=3)
    apis[Role.PROVIDER].step(case.pk, "extension", version=data["version"], new_deadline=later.isoformat(),
                             reason="等配件")
    assert "extend_request" not in offered(Role.PROVIDER)
    assert {"extend_approve", "extend_reject"} <= offered(Role.LEADER)


def test_openapi_documents_the_routes_in_chinese(world):
    schema = Client().get("/api/openapi.json").json()
    paths = schema["paths"]
    for path in ("/api/cases/", "/api/cases/{case_id}", "/api/cases/{case_id}/dispatch",
                 "/api/cases/{case_id}/attachments", "/api/cases/{case_id}/extension/decision"):
        assert path in paths, path
    assert paths["/api/cases/{case_id}/dispatch"]["post"]["summary"] == "派单"
    assert set(paths["/api/cases/{case_id}/dispatch"]["post"]["responses"]) >= {"200", "400", "401", "403",
                                                                                 "404", "409", "422"}
    props = schema["components"]["schemas"]["CaseSummary"]["properties"]
    assert props["requester_phone"]["description"] == "联系电话(默认脱敏)"


def test_schema_errors_are_explained_in_chinese(world, apis):
    response = apis[Role.COMMUNITY_WORKER].post("", {**CREATE, "title": None, "latitude": "north"})
    assert response.status_code == 422
    messages = {error["field"]: error["msg"] for error in response.json()["detail"]}
    assert any(field.endswith("latitude") and "应为数字" in msg for field, msg in messages.items()), messages
    assert not Case.objects.exists()

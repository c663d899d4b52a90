from jiedao.audit.trail import verify


def test_world_builds_and_chain_verifies(world):
    assert world.users["leader"].username == "lingdao"
    assert world.other["leader"].memberships.get().unit == world.other_street
    result = verify()
    assert result.ok, result.problem
    assert result.checked > 40


def test_healthz_answers_without_login(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.content == b"ok"


def test_an_expired_form_gets_a_chinese_page(db):
    from django.test import Client

    response = Client(enforce_csrf_checks=True).post("/s/", {"x": "1"})
    assert response.status_code == 403
    assert "页面已过期" in response.content.decode()

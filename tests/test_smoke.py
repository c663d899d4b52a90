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

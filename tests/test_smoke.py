from jiedao.audit.trail import verify


def test_world_builds_and_chain_verifies(world):
    assert world.users["leader"].username == "lingdao"
    assert world.other["leader"].memberships.get().unit == world.other_street
    result = verify()
    assert result.ok, result.problem
    assert result.checked > 40

"""The per-process memo (jiedao/core/recent.py) and when the cases' memos are forgotten."""

from jiedao.audit.trail import Actor
from jiedao.cases import lookups
from jiedao.core.models import OrgUnitKind
from jiedao.core.recent import Recent
from jiedao.core.services import org_unit_create


def test_a_value_read_while_the_memo_was_forgotten_is_not_kept():
    memo: Recent[str, str] = Recent(60)
    loads = []

    def load_racing_a_change():
        loads.append(1)
        memo.forget()  # a unit saved while this read was under way
        return "old"

    assert memo.get("k", load_racing_a_change) == "old"
    assert memo.get("k", lambda: "new") == "new"  # read again, not the old value
    assert memo.get("k", lambda: "newer") == "new"  # and that one is kept
    assert loads == [1]


def test_saving_a_unit_forgets_again_when_it_commits(world, django_capture_on_commit_callbacks):
    """``OrgUnit.save`` rewrites paths after ``post_save``; another thread could memoise the rows
    before the commit, so the memos are forgotten at once and again on commit."""
    community = world.units["360103012001"]
    with django_capture_on_commit_callbacks(execute=True):
        org_unit_create(by=Actor.system("test"), kind=OrgUnitKind.GRID, name="新设网格",
                        code=community.code + "009", parent=community)
        lookups.subtrees.get(community.path, lambda: ["read before the commit"])
        assert lookups.subtrees.get(community.path, lambda: []) == ["read before the commit"]
    assert lookups.subtrees.get(community.path, lambda: ["read after"]) == ["read after"]

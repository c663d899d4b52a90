"""``core.bulk.insert``: new keys reach the right objects whatever order RETURNING gives."""

from __future__ import annotations

from django.db import connection

from jiedao.cases.models import CaseKind, Category
from jiedao.core import bulk


def categories(n: int) -> list[Category]:
    return [Category(kind=CaseKind.DEMAND, code=f"bulk-{i}", name=f"批量分类{i}") for i in range(n)]


def test_keys_are_paired_by_the_matching_field_even_in_reverse_order(db, monkeypatch):
    real_cursor = connection.cursor

    class Reversing:
        def __init__(self):
            self.inner = real_cursor()

        def __enter__(self):
            self.inner.__enter__()
            return self

        def __exit__(self, *exc):
            return self.inner.__exit__(*exc)

        def execute(self, sql, params):
            return self.inner.execute(sql, params)

        def fetchall(self):
            return list(reversed(self.inner.fetchall()))

    monkeypatch.setattr(connection, "cursor", Reversing)
    objs = bulk.insert(categories(5), match="code")
    monkeypatch.undo()
    stored = dict(Category.objects.filter(code__startswith="bulk-").values_list("code", "pk"))
    assert {o.code: o.pk for o in objs} == stored
    assert all(not o._state.adding for o in objs)


def test_without_a_matching_field_the_order_is_trusted(db):
    objs = bulk.insert(categories(3))
    stored = dict(Category.objects.filter(code__startswith="bulk-").values_list("code", "pk"))
    assert {o.code: o.pk for o in objs} == stored
    assert bulk.insert([]) == []

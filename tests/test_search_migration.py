"""Migrations cases/0009: the search documents' copies of their case's place — filled for the
documents already stored, kept by triggers, and taken out again when the migration is undone;
and cases/0010: the requester's words put after a mark in the documents already stored."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from jiedao.cases.models import Case, CaseSearchDoc, Category

BEFORE, AFTER = ("cases", "0008_public_submission"), ("cases", "0009_search_doc_place")
COLUMNS = "street_id, org_unit_id, handler_unit_id, created_at"


def migrate(target=None) -> None:
    """To ``target``; with none, to the latest migrations (as the other tests expect)."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([target] if target else executor.loader.graph.leaf_nodes())


def doc_columns() -> set[str]:
    with connection.cursor() as cursor:
        return {c.name for c in connection.introspection.get_table_description(cursor, "cases_casesearchdoc")}


def raw(sql: str, params=()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def new_case(world, code: str, unit, handler_unit=None) -> Case:
    return Case.objects.create(
        tracking_code=code, kind="demand", category=Category.objects.filter(kind="demand").first(),
        channel="phone", title="楼道漏水", street=world.units["360103012"], org_unit=unit,
        handler_unit=handler_unit, deadline_at=timezone.now() + dt.timedelta(days=3))


@pytest.mark.django_db(transaction=True)
def test_the_place_copies_are_filled_kept_and_undone(world):
    community = world.units["360103012001"]
    department = world.units["360103012/城管办"]
    old = new_case(world, "MIG0000001", community, department)
    try:
        migrate(BEFORE)
        assert "org_unit_id" not in doc_columns()
        raw("INSERT INTO cases_casesearchdoc (case_id, tokens) VALUES (%s, %s)", [old.pk, "楼道 道漏 漏水"])

        migrate(AFTER)  # the documents already stored get their case's columns
        expected = [(old.street_id, old.org_unit_id, department.pk)]
        assert [row[:3] for row in raw(f"SELECT {COLUMNS} FROM cases_casesearchdoc")] == expected
        assert CaseSearchDoc.objects.get(case=old).created_at == old.created_at

        # a document inserted without the copies (code that does not know them) gets them
        late = new_case(world, "MIG0000002", community)
        raw("INSERT INTO cases_casesearchdoc (case_id, tokens) VALUES (%s, %s)", [late.pk, "路灯 灯不 不亮"])
        doc = CaseSearchDoc.objects.get(case=late)
        assert (doc.street_id, doc.org_unit_id, doc.handler_unit_id, doc.created_at) == (
            late.street_id, late.org_unit_id, None, late.created_at)
        Case.objects.filter(pk=late.pk).update(handler_unit=department)  # and follows the case
        assert CaseSearchDoc.objects.get(case=late).handler_unit_id == department.pk

        migrate(BEFORE)  # undone: the columns are gone, the text index still follows the tokens
        assert "org_unit_id" not in doc_columns()
        raw("UPDATE cases_casesearchdoc SET tokens = %s WHERE case_id = %s", ["井盖 盖破 破损", late.pk])
        if connection.vendor == "sqlite":
            assert raw("SELECT rowid FROM cases_casesearchdoc_fts WHERE cases_casesearchdoc_fts MATCH %s",
                       ['"井盖"']) == [(late.pk,)]
        Case.objects.filter(pk=late.pk).update(handler_unit=None)  # no trigger left to fail
    finally:
        migrate()


@pytest.mark.django_db(transaction=True)
def test_the_requesters_words_are_marked_and_unmarked(world):
    from jiedao.cases import search

    unit = world.units["360103012001"]
    named, nameless = new_case(world, "MIG0000003", unit), new_case(world, "MIG0000004", unit)
    Case.objects.filter(pk=named.pk).update(requester_name="张三丰", requester_phone="13800138000")
    old = {named.pk: "mig0000003 楼道 道漏 漏水 张三 三丰 13800138000",
           nameless.pk: "mig0000004 楼道 道漏 漏水"}
    try:
        migrate(("cases", "0009_search_doc_place"))
        for pk, tokens in old.items():
            raw("INSERT INTO cases_casesearchdoc (case_id, tokens) VALUES (%s, %s)", [pk, tokens])

        migrate(("cases", "0010_search_doc_personal_mark"))  # as the code writes them now
        marked = dict(raw("SELECT case_id, tokens FROM cases_casesearchdoc"))
        assert marked == {pk: search.document(Case.objects.get(pk=pk)) for pk in old}
        assert marked[named.pk] == "mig0000003 楼道 道漏 漏水 ~ 张三 三丰 13800138000"
        plain = Case.objects.filter(pk__in=old)  # the index follows: the name is behind the mark
        assert set(search.search(plain, "张三丰")) == set()
        assert set(search.search(plain, "张三丰", personal=True)) == {named}

        migrate(("cases", "0009_search_doc_place"))  # undone: the documents as they were
        assert dict(raw("SELECT case_id, tokens FROM cases_casesearchdoc")) == old
    finally:
        migrate()

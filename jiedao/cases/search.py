"""Finding cases by any words of their text, address or requester — in Chinese.

Chinese has no spaces, so splitting on spaces finds nothing, and trigram indexes (SQLite
FTS5 ``trigram``, PostgreSQL ``pg_trgm``) cannot serve the two-character words that most
searches are ("漏水", "楼道", "物业"). So each run of Chinese characters is indexed as its
overlapping character pairs ("楼道漏水" → 楼道 道漏 漏水), and Latin letters and digits as
whole words (tracking codes, phone numbers). A query is cut the same way and matched as a
phrase of pairs, every part of it required:

- SQLite: an FTS5 table (``unicode61``) over ``CaseSearchDoc.tokens``, kept by triggers;
- PostgreSQL: ``to_tsvector('simple', tokens)`` with a GIN index, queried with ``<->``.

A query of one-character parts has no pair; it falls back to a substring scan of the title and
address. A Chinese character alone beside other words ("水管 漏") is tested as a substring of the
stored tokens of the cases the other words find: it is in the case's text wherever it stands.

The requester's name and phone are indexed after a mark (``PERSONAL_MARK``): a search by
someone who sees them masked is tested on the words before it, so it cannot confirm them.

A search with few matches (``few_matches``, estimated from the tokens' shares of the
documents) is read whole, so only its rarer tokens are looked up (``_lookup_plan``) and the
rest tested on the stored tokens; a common word is counted and walked lazily instead
(``dense``, ``capped_ids``, ``_walked_match``).
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections import Counter

from django.core.exceptions import EmptyResultSet, FullResultSet
from django.db import connection
from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL

from .models import Case, CaseSearchDoc

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUN = re.compile(rf"[{_CJK}]+|[0-9a-z]+")


def _runs(text: str) -> list[str]:
    return _RUN.findall(unicodedata.normalize("NFKC", text or "").lower())


def _pairs(run: str) -> list[str]:
    if not re.match(rf"[{_CJK}]", run):
        return [run]
    if len(run) == 1:
        return [run]
    return [run[i:i + 2] for i in range(len(run) - 1)]


def tokens(text: str) -> str:
    return " ".join(token for run in _runs(text) for token in _pairs(run))


# The document is the case's own words (tracking code, title, description, address), then this
# mark, then its requester's name and phone. The index holds both; a search by someone who may
# not see a case's requester (``personal``: ``permissions.finds_by_requester``) must find every
# part before the mark (``_public``, ``_searched``), or a match would confirm a masked name or number.
# Tokens are letters, digits and CJK characters only, so the mark cannot stand in the words;
# both indexes take it for a space.
PERSONAL_MARK = "~"


def document(case: Case) -> str:
    own = tokens(" ".join([case.tracking_code, case.title, case.description, case.address]))
    requester = tokens(" ".join([case.requester_name, case.requester_phone]))
    return f"{own} {PERSONAL_MARK} {requester}".rstrip()


def _public(tokens_column: str) -> str:
    """SQL of the part of the stored tokens before ``PERSONAL_MARK`` (the whole, if none)."""
    mark = f"' {PERSONAL_MARK}'"
    if connection.vendor == "postgresql":
        return f"split_part({tokens_column}, {mark}, 1)"
    return f"substr({tokens_column}, 1, instr({tokens_column} || {mark}, {mark}) - 1)"


def _searched(tokens_column: str, personal: bool | tuple[int, ...]) -> str:
    """SQL of the stored tokens a search may find its parts in: all of them (``personal`` True),
    the case's own words only (False; ``PERSONAL_MARK``), or — ``personal`` the ids of the units
    where the user sees requesters (``permissions.finds_by_requester``) — all of them in the
    documents of cases placed or handled there (the document's copies of those columns), the
    own words elsewhere."""
    if personal is True:
        return tokens_column
    if not personal:
        return _public(tokens_column)
    doc = tokens_column[:-len("tokens")]  # the document's table or alias, with its dot
    units = ", ".join(str(int(pk)) for pk in personal)
    return (f"(CASE WHEN {doc}org_unit_id IN ({units}) OR {doc}handler_unit_id IN ({units}) "
            f"THEN {tokens_column} ELSE {_public(tokens_column)} END)")


def document_of(case: Case) -> CaseSearchDoc:
    """The search document of ``case``, unsaved: its tokens and the copies of its place and
    intake time (``CaseSearchDoc.PLACE_FIELDS``; triggers keep them in step afterwards)."""
    return CaseSearchDoc(case=case, tokens=document(case),
                         **{name: getattr(case, name) for name in CaseSearchDoc.PLACE_FIELDS})


def _literal(text: str) -> str:
    """``text`` as an SQL string literal, for the query's own tokens only (CJK characters,
    Latin letters, digits, and the tsquery's quotes, ``&`` and spaces)."""
    if not _LITERAL_SAFE.fullmatch(text):
        raise ValueError(f"not a search expression: {text!r}")
    return "'" + text.replace("'", "''") + "'"


_LITERAL_SAFE = re.compile(rf"[{_CJK}0-9a-z'& ]*")


def _query_parts(text: str) -> list[list[str]]:
    """Each part of the query as its list of tokens (a phrase)."""
    return [_pairs(run) for run in _runs(text)]


def _single(part: list[str]) -> bool:
    """A part of one character ("号" of "12号", "3" of "3栋")."""
    return len(part) == 1 and len(part[0]) == 1


def _character(part: list[str]) -> bool:
    """A part of one Chinese character ("漏" of "水管 漏"): it has no pair, and the case's text
    holds it wherever it stands — "楼道漏水" holds "漏" inside its pairs, not as a token of its
    own — so it is tested as a substring of the stored tokens (``_needle``), never looked up
    in the index. (A letter or digit is a whole word, as in any query: "3" is the number 3.)"""
    return _single(part) and bool(re.match(rf"[{_CJK}]", part[0]))


def _needle(part: list[str]) -> str:
    """What " tokens " must contain to hold ``part``: the phrase of pairs " t1 t2 … " (the
    document is its tokens joined by single spaces), or a Chinese character anywhere."""
    return part[0] if _character(part) else f" {' '.join(part)} "


def _indexed(parts: list[list[str]]) -> tuple[list[list[str]], list[list[str]]]:
    """``parts`` the index can look up, and the one-character Chinese parts it cannot."""
    return [p for p in parts if not _character(p)], [p for p in parts if _character(p)]


# A token held by more than this share of the cases is not looked up in the index when the
# query has a rarer one (``_lookup_plan``).
LOOKUP_SHARE = 0.25


def _lookup_plan(parts: list[list[str]]) -> tuple[list[list[str]], list[list[str]]]:
    """For a search whose matches are all read (few of them: ``few_matches``, and PostgreSQL's
    GIN index, which reads every list whole): the phrases the index looks up (all required),
    and the parts then tested whole on the stored tokens of the cases they find
    (``_token_tests``).

    The index reads the whole list of the cases holding a token to intersect it with the
    others: "社区" and "号", in nearly every address, are a million entries each, and the rare
    "17" of "兰宫路社区17号" finds its thousand cases alone (39 ms became 5). So each part is
    looked up by its runs of tokens held by at most ``LOOKUP_SHARE`` of the cases (each run a
    shorter phrase the part contains) and tested whole when anything of it was left out. When no
    token is that rare, every part of more than one character is looked up as it is. A Chinese
    character alone is always tested (``_character``)."""
    shares = _token_shares()[0]
    indexed, characters = _indexed(parts)
    if not any(shares.get(token, 0.0) <= LOOKUP_SHARE for part in indexed for token in part):
        longer = [part for part in indexed if not _single(part)]
        return (longer, [part for part in parts if _single(part)]) if longer else (indexed, characters)
    looked_up, tested = [], []
    for part in parts:
        if _character(part):
            tested.append(part)
            continue
        runs, run = [], []
        for token in part:
            if shares.get(token, 0.0) <= LOOKUP_SHARE:
                run.append(token)
            elif run:
                runs.append(run)
                run = []
        if run:
            runs.append(run)
        looked_up += runs
        if runs != [part]:
            tested.append(part)
    return looked_up, tested


def _fts_where(parts: list[list[str]]) -> tuple[str, list]:
    """SQLite: the FTS5 condition for ``parts`` (each a phrase, all required) and its params."""
    return "cases_casesearchdoc_fts MATCH %s", [" AND ".join('"' + " ".join(part) + '"' for part in parts)]


def _token_tests(parts: list[list[str]], tokens_column: str,
                 personal: bool | tuple[int, ...]) -> tuple[str, list]:
    """SQLite: the condition that a document's stored tokens (``_searched``) hold every part
    (``_needle``: a phrase of pairs, or a Chinese character anywhere), and its params.
    (PostgreSQL's ``search`` writes the same test with ``strpos`` and the words in the
    statement.)"""
    tests = [f"instr(' ' || {_searched(tokens_column, personal)} || ' ', %s) > 0"] * len(parts)
    return " AND ".join(tests), [_needle(part) for part in parts]


def _tested(parts: list[list[str]], tested: list[list[str]],
            personal: bool | tuple[int, ...]) -> list[list[str]]:
    """The parts to test on the stored tokens after the index found the cases: ``tested``, or
    every part when the requester's words may not match everywhere (the index holds them too)."""
    return tested if personal is True else parts


# On SQLite, a query matched by more cases than this is answered by walking the list's own
# index (deadline, intake time) and testing each case against the matches, instead of fetching
# every match and sorting them: "漏水" matches 71,000 of a million cases, and its first page is
# found after a few hundred rows of the index rather than 71,000 look-ups and a sort.
DENSE_MATCHES = 2000
# ... but only a word held by at least this share of the cases is left to that walk without
# reading its matches first (``few_matches``): the walk finds a page of 30 among about 30 / share
# cases of the list. "17号" has some 5,000 matches in a million (0.5 %): a community's page
# walked 27,000 cases (0.3 s on PostgreSQL), while its 1,400 matches in the community are read
# in one look-up.
WALK_SHARE = 0.01


def _match_count(sql: str, params: list, cap: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM ({sql} LIMIT %s) AS matches", [*params, cap])
        return cursor.fetchone()[0]


def dense(text: str) -> bool:
    """Does ``text`` match more than ``DENSE_MATCHES`` cases? Then ``search`` walks the list's
    index instead of fetching the matches. SQLite counts the matches (up to the threshold);
    PostgreSQL reads the index's statistics (``_pg_dense``)."""
    parts = _query_parts(text)
    if not parts or all(map(_single, parts)):
        return False
    if connection.vendor == "postgresql":
        return _pg_dense(parts)
    if connection.vendor != "sqlite":
        return False
    where, params = _fts_where(_indexed(parts)[0])  # the characters' matches are fewer still
    return _match_count(f"SELECT rowid FROM cases_casesearchdoc_fts WHERE {where}", params,
                        DENSE_MATCHES + 1) > DENSE_MATCHES


# Each token's share of the documents, read at most every ``_SHARES_SECONDS`` per process:
# on PostgreSQL from ANALYZE's statistics of the search index (``pg_stats.most_common_elems``),
# on SQLite counted in the latest ``SAMPLE_DOCUMENTS`` documents.
_SHARES_SECONDS = 300
SAMPLE_DOCUMENTS = 2000
_shares: dict = {}


def _token_shares() -> tuple[dict[str, float], float]:
    """The common tokens' shares of the documents, and about how many documents there are.
    A token not in it is rare."""
    cached = _shares.get(connection.alias)
    if cached is not None and time.monotonic() - cached[0] < _SHARES_SECONDS:
        return cached[1], cached[2]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT e, f FROM pg_stats AS s, unnest(s.most_common_elems::text::text[], "
                "s.most_common_elem_freqs) AS u(e, f) WHERE s.tablename = 'cases_casesearchdoc_tsv' "
                "AND s.schemaname = current_schema() AND e IS NOT NULL")
            shares = dict(cursor.fetchall())
            cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'cases_casesearchdoc'")
            row = cursor.fetchone()
            total = max(float(row[0]) if row else 0.0, 0.0)
        else:
            cursor.execute("SELECT tokens FROM cases_casesearchdoc ORDER BY case_id DESC LIMIT %s",
                           [SAMPLE_DOCUMENTS])
            documents = [row[0] for row in cursor.fetchall()]
            held = Counter(token for document in documents
                           for token in set(document.split()) - {PERSONAL_MARK})
            shares = {token: n / len(documents) for token, n in held.items()}
            cursor.execute("SELECT MAX(case_id) FROM cases_casesearchdoc")  # cases are kept
            total = float(cursor.fetchone()[0] or 0)
    _shares[connection.alias] = (time.monotonic(), shares, total)
    return shares, total


def _estimated_matches(parts: list[list[str]]) -> float:
    """How many cases match, estimated: a part (a phrase of pairs) is held by at most as many
    cases as its rarest pair — its pairs come together, so their shares must not be multiplied
    (PostgreSQL's planner does, and takes "停车难", which 7 % of the cases hold, for a word of
    0.5 %); the parts of a query ("兰宫路社区 17 号") are taken as independent. A token not
    among the common ones is rarer than all of them."""
    shares, total = _token_shares()
    share = 1.0
    for part in _indexed(parts)[0]:  # a Chinese character alone: taken as in every case
        share *= min(shares.get(token, 0.0) for token in part)
    return share * total


def _pg_dense(parts: list[list[str]]) -> bool:
    return _estimated_matches(parts) > DENSE_MATCHES


def _pg_looked_up(parts: list[list[str]]) -> list[str]:
    """PostgreSQL: the tokens the GIN index looks up (``_lookup_plan``); its tsquery ANDs them,
    and every phrase's order is tested on the stored tokens anyway."""
    return sorted({token for phrase in _lookup_plan(parts)[0] for token in phrase})


def _walked_match(queryset: QuerySet[Case], parts: list[list[str]],
                  personal: bool | tuple[int, ...]) -> QuerySet[Case]:
    """``queryset``'s cases whose document holds every part as a phrase, tested case by case on
    the stored tokens — the FTS phrase query's answer, as the document is the tokens joined by
    single spaces: a phrase of pairs is the substring " t1 t2 … " of " tokens ". For a word with
    many matches each case the list's index walks past is tested by one look-up by id, instead
    of building the list of every match first (71,000 ids for "漏水": most of the search's time).
    On documents (``on_documents``) their own tokens are tested."""
    table, pk = _table(queryset)
    doc = connection.ops.quote_name(CaseSearchDoc._meta.db_table)
    if queryset.model is CaseSearchDoc:
        tests, params = _token_tests(parts, f"{table}.tokens", personal)
        return queryset.extra(where=[tests], params=params)
    tests, params = _token_tests(parts, "d.tokens", personal)
    return queryset.extra(
        where=[f"EXISTS (SELECT 1 FROM {doc} AS d WHERE d.case_id = {table}.{pk} AND {tests})"],
        params=params)


def _table(queryset: QuerySet) -> tuple[str, str]:
    """The quoted table and key column of ``queryset``'s model: cases, or their search documents."""
    meta = queryset.model._meta
    return connection.ops.quote_name(meta.db_table), connection.ops.quote_name(meta.pk.column)


def on_documents(condition: Q, text: str) -> QuerySet[CaseSearchDoc] | None:
    """The search documents of the cases meeting ``condition``, when it names only the case's
    columns the documents keep copies of (``CaseSearchDoc.PLACE_FIELDS``, and the key): a unit's
    scope. ``search``, ``few_matches`` and ``capped_ids`` given these documents instead of the
    cases find the same cases matching ``text`` without reading a case row (each match was
    otherwise looked up by id to test the scope). None when ``condition`` names anything else (a
    status, a handler), or when ``text`` is matched on the case's own columns (one-character
    parts only)."""
    parts = _query_parts(text)
    if not parts or all(map(_single, parts)):
        return None
    allowed = {*CaseSearchDoc.PLACE_FIELDS, "pk"}

    def only_place(q: Q) -> bool:  # a negation is left to the cases (the copies may be NULL)
        return not q.negated and all(
            only_place(child) if isinstance(child, Q) else
            isinstance(child, tuple) and child[0].split("__")[0] in allowed
            and (child[0].count("__") == 0 or child[0].split("__")[1] in ("in", "gte", "lt", "exact"))
            for child in q.children)

    return CaseSearchDoc.objects.filter(condition) if only_place(condition) else None


def search(queryset: QuerySet[Case], text: str, *, is_dense: bool | None = None,
           walk: bool = False, personal: bool | tuple[int, ...] = False) -> QuerySet[Case]:
    """``queryset``'s cases matching ``text``; by the requester's name and phone too only when
    ``personal`` (``PERSONAL_MARK``). SQLite, a word with more than ``DENSE_MATCHES``
    matches: with ``walk`` (a first page walked in the list's order) each case is tested on its
    own (``_walked_match``), otherwise against the list of matches built once. ``is_dense``: the
    caller's answer of ``dense(text)``, saving the count that decides it.

    ``queryset`` may be search documents (``on_documents``) instead of cases, for a count or
    the ids of the matches (a text of one-character parts excepted: it is matched on the case's
    title and address)."""
    parts = _query_parts(text)
    if not parts:  # no search at all; or punctuation only: no word to find, so nothing is found
        return queryset.none() if (text or "").strip() else queryset
    if all(map(_single, parts)):
        q = Q()
        for part in parts:
            q &= Q(title__contains=part[0]) | Q(address__contains=part[0])
        return queryset.filter(q)
    if connection.vendor == "postgresql":
        # The words are written into the statement, not bound: with prepared statements
        # (settings: JIEDAO_PG_PREPARED) a bound word would get one generic plan for every
        # word, and the plan made for a common word walks the whole list for a word no case
        # has (4 s at a million cases). Written in, each word is planned for its own
        # frequency. They are letters, digits and CJK characters only (``_RUN``).
        # The index finds the cases holding every token; a phrase's order is then tested
        # on the stored tokens (a phrase of pairs is the substring " t1 t2 … " of " tokens ").
        # A tsquery phrase (<->) would instead rebuild each candidate's tsvector to check the
        # positions the index does not keep: 190 ms for "停车难" at a million cases.
        looked_up = _pg_looked_up(parts)
        words = " & ".join(f"'{token}'" for token in looked_up)
        match = f"to_tsvector('simple', tokens) @@ to_tsquery('simple', {_literal(words)})"
        # A list walked in its own order tests every part first (the substring tests are the
        # whole match, and much cheaper than building a tsvector); the match stays, so the
        # planner can still take the index for a word few cases have. A one-token part the
        # index does not look up is tested too.
        tested = _tested(parts, [part for part in parts
                                 if len(part) > 1 or walk or part[0] not in looked_up], personal)
        searched = _searched("tokens", personal)
        phrases = [f"strpos(' ' || {searched} || ' ', {_literal(_needle(part))}) > 0" for part in tested]
        # A word most cases hold, its first page walked: the substring tests alone, so that
        # the planner, which takes the pairs of a phrase for independent, cannot fetch and sort
        # all 71,000 matches of "停车难" (0.6 s) instead of walking a few hundred cases.
        conditions = phrases if walk and is_dense else [*phrases, match]
        if queryset.model is CaseSearchDoc:
            return queryset.extra(where=conditions)
        sql = f"SELECT case_id FROM cases_casesearchdoc WHERE {' AND '.join(conditions)}"
        return queryset.filter(pk__in=RawSQL(sql, []))
    if is_dense is None:
        is_dense = dense(text)
    if is_dense and walk:
        return _walked_match(queryset, parts, personal)
    if is_dense:
        # Every match's id, built once; the unary + keeps SQLite from driving the query by the
        # ids (each row of the index is tested against them).
        indexed, characters = _indexed(parts)
        where, params = _fts_where(indexed)
        table, pk = _table(queryset)
        found = queryset.extra(
            where=[f"+{table}.{pk} IN "
                   f"(SELECT rowid FROM cases_casesearchdoc_fts WHERE {where})"],
            params=params)
        tested = _tested(parts, characters, personal)
        return _walked_match(found, tested, personal) if tested else found
    # Few matches: all of them are read, so only the rarer tokens are looked up.
    looked_up, tested = _lookup_plan(parts)
    tested = _tested(parts, tested, personal)
    where, params = _fts_where(looked_up)
    found = queryset.filter(pk__in=RawSQL(f"SELECT rowid FROM cases_casesearchdoc_fts WHERE {where}", params))
    return _walked_match(found, tested, personal) if tested else found


def few_matches(queryset: QuerySet[Case], text: str, *, key: str | None = None,
                personal: bool | tuple[int, ...] = False) -> list | None:
    """The ids of the cases of ``queryset`` matching ``text``, read in one look-up of the index
    by the rarer tokens (``_lookup_plan``), at most ``DENSE_MATCHES`` + 1 of them: all of them
    when there are at most ``DENSE_MATCHES`` (the caller counts them and reads its page from
    them); one more says the search is dense (count and walk the list instead). None when
    nothing was read: the token shares say there are many matches (``_estimated_matches`` over
    twice the threshold) and they are dense enough to walk to (``WALK_SHARE``), or a
    one-character query.

    On SQLite a common word is better left to FTS5, which reads its lists lazily under a
    LIMIT: "12号" has its first thousand matches in 5 ms as one look-up, while testing "号" on
    the matches of "12" reads each candidate's row (19 ms).

    ``key``: a column of the case read with each id, as ``(id, value)`` pairs — the list's order,
    so that the caller orders the page itself instead of reading every match again by id. The
    value orders as the column does (``_order_value``); None where the column is empty, and the
    caller then leaves the order to the database."""
    parts = _query_parts(text)
    if connection.vendor not in ("sqlite", "postgresql") or not parts or all(map(_single, parts)):
        return None
    estimate = _estimated_matches(parts)
    if estimate > 2 * DENSE_MATCHES and estimate >= WALK_SHARE * _token_shares()[1]:
        return None
    if connection.vendor == "postgresql":
        matches = search(queryset, text, is_dense=False, personal=personal).order_by()
        if key:
            order = RawSQL(_order_value(queryset, key), [])
            matches = matches.annotate(_order=order).values_list("pk", "_order")
        else:
            matches = matches.values_list("pk", flat=True)
        return list(matches[:DENSE_MATCHES + 1])
    return capped_ids(queryset, text, DENSE_MATCHES + 1, few=True, key=key, personal=personal)


def _order_value(queryset: QuerySet, key: str) -> str:
    """The SQL of a value that orders as ``key``'s column does, cheap to read in Python: a
    date-time as an integer of microseconds since 1970 on PostgreSQL, and on SQLite as the text
    Django stores (which SQLite orders as text), not parsed — reading 1,400 date-times (and
    comparing aware ones) was a fifth of the CPU of a page of "17号"."""
    table = _table(queryset)[0]
    field = queryset.model._meta.get_field(key)
    column = f"{table}.{connection.ops.quote_name(field.column)}"
    if field.get_internal_type() != "DateTimeField":
        return column
    if connection.vendor == "postgresql":
        return f"(EXTRACT(EPOCH FROM {column}) * 1000000)::bigint"
    return f"CAST({column} AS TEXT)"


def capped_ids(queryset: QuerySet[Case], text: str, cap: int, *, few: bool = False,
               key: str | None = None, personal: bool | tuple[int, ...] = False) -> list | None:
    """At most ``cap`` ids of the cases of ``queryset`` matching ``text`` — for a capped count —
    read on SQLite by walking the matches in the FTS index and looking each case up by id, which
    stops at ``cap`` without building the list of every match. ``few``: all the matches are
    expected to be read, so only the rarer tokens are looked up (``_lookup_plan``). None where
    this does not apply (PostgreSQL, a one-character query): count ``search(queryset, text)``.
    ``key``: ``(id, value of that column)`` pairs instead of ids (``few_matches``)."""
    parts = _query_parts(text)
    if connection.vendor != "sqlite" or not parts or all(map(_single, parts)):
        return None
    query = queryset.query
    try:
        where, params = query.get_compiler(connection=connection).compile(query.where)
    except FullResultSet:
        where, params = "", []
    except EmptyResultSet:
        return []
    model = queryset.model
    if query.extra or {alias for alias, n in query.alias_refcount.items() if n} - {model._meta.db_table}:
        return None  # joins or extra tables: not the plain list this is written for
    table, pk = _table(queryset)
    looked_up, tested = _lookup_plan(parts) if few else _indexed(parts)
    tested = _tested(parts, tested, personal)
    match, match_params = _fts_where(looked_up)
    doc = connection.ops.quote_name(CaseSearchDoc._meta.db_table)
    join, tests, test_params = "", "", []
    if tested and model is CaseSearchDoc:  # the documents themselves: their own tokens
        tests, test_params = _token_tests(tested, f"{table}.tokens", personal)
        tests = f" AND {tests}"
    elif tested:
        tests, test_params = _token_tests(tested, "d.tokens", personal)
        join, tests = f" CROSS JOIN {doc} AS d ON d.case_id = {table}.{pk}", f" AND {tests}"
    select = f"{table}.{pk}"
    if key:
        select += f", {_order_value(queryset, key)}"
    sql = (f"SELECT {select} FROM cases_casesearchdoc_fts CROSS JOIN {table} "
           f"ON {table}.{pk} = cases_casesearchdoc_fts.rowid{join} "
           f"WHERE {match}{' AND (' + where + ')' if where else ''}{tests} LIMIT %s")
    with connection.cursor() as cursor:
        cursor.execute(sql, [*match_params, *params, *test_params, cap])
        return [tuple(row) for row in cursor.fetchall()] if key else [row[0] for row in cursor.fetchall()]

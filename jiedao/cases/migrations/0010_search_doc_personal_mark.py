"""The search documents put the requester's name and phone after a mark (``search.PERSONAL_MARK``),
so that a search by someone who sees them masked is tested on the case's own words only.

Forward, each stored document is written again from its case (the tokenizer is copied here as
it was, so that this migration does not follow later changes of ``search``), a transaction per
batch of 5,000 (run again after an interruption, it goes on: a document already marked is
left alone); the full-text indexes follow the new tokens by their triggers. 41 s for a million
documents on SQLite here, 47 s on PostgreSQL (back: 12 and 23 s). Backward, the mark is taken out, which gives
the documents as they were (the words, a space, the requester's words).
"""

import re
import unicodedata

from django.db import migrations, transaction

MARK = "~"
_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUN = re.compile(rf"[{_CJK}]+|[0-9a-z]+")
_CHINESE = re.compile(rf"[{_CJK}]")
BATCH = 5000


def _tokens(text: str) -> str:
    out = []
    for run in _RUN.findall(unicodedata.normalize("NFKC", text or "").lower()):
        if _CHINESE.match(run) and len(run) > 1:
            out += [run[i:i + 2] for i in range(len(run) - 1)]
        else:
            out.append(run)
    return " ".join(out)


def _document(code, title, description, address, name, phone) -> str:
    own = _tokens(" ".join([code, title, description, address]))
    return f"{own} {MARK} {_tokens(' '.join([name, phone]))}".rstrip()


def mark(apps, schema_editor):
    connection = schema_editor.connection
    last = 0
    while last is not None:  # a transaction a batch: a case write waits at most for one batch
        with transaction.atomic(using=connection.alias):
            last = _mark_batch(connection, last)
    # Every document was written again: SQLite's full-text index is merged into one segment
    # (2 s at a million cases; "兰宫路社区17号" took 11 ms instead of 7 before it), PostgreSQL's
    # statistics of the tokens read again.
    schema_editor.execute("INSERT INTO cases_casesearchdoc_fts(cases_casesearchdoc_fts) VALUES ('optimize')"
                          if connection.vendor == "sqlite" else "ANALYZE cases_casesearchdoc", None)


def _mark_batch(connection, last: int) -> int | None:
    """The documents after case ``last``, up to ``BATCH`` of them, written again; the last case
    id done (None when there were none)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT d.case_id, d.tokens, c.tracking_code, c.title, c.description, c.address, "
            "c.requester_name, c.requester_phone FROM cases_casesearchdoc AS d "
            "JOIN cases_case AS c ON c.id = d.case_id WHERE d.case_id > %s ORDER BY d.case_id LIMIT %s",
            [last, BATCH])
        rows = cursor.fetchall()
        changed = [(new, pk) for pk, old, *case in rows if (new := _document(*case)) != old]
        if changed:
            cursor.executemany("UPDATE cases_casesearchdoc SET tokens = %s WHERE case_id = %s", changed)
    return rows[-1][0] if rows else None


def unmark(apps, schema_editor):
    schema_editor.execute(
        f"UPDATE cases_casesearchdoc SET tokens = replace(tokens, ' {MARK}', '') "
        f"WHERE tokens LIKE '% {MARK}%'", None)


class Migration(migrations.Migration):
    # Not one transaction: on PostgreSQL a million rewritten documents held locked until the
    # end would keep every dispatch waiting (0009's trigger updates the case's document).
    atomic = False

    dependencies = [
        ("cases", "0009_search_doc_place"),
    ]

    operations = [
        migrations.RunPython(mark, unmark, elidable=False),
    ]

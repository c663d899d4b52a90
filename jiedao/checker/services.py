"""Changes to the lexicon, audited; and the lexicon a given user's check uses."""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db.models import Count, Max
from django.utils.translation import gettext as _

from jiedao.accounts.access import grants
from jiedao.audit.trail import Actor, atomic_service, record
from jiedao.core.models import OrgUnit

from .lexicon import Lexicon, Word
from .models import SensitiveWord, WordCategory

MAX_WORD_LENGTH = 100
MAX_IMPORT_ROWS = 100_000


def _clean_word(word: str, category: str, row: int | None = None) -> tuple[str, str]:
    where = _("第 %(row)s 行:") % {"row": row} if row else ""
    word = (word or "").strip()
    if not word:
        raise ValidationError({"word": where + _("“词语”不能为空。")})
    if len(word) > MAX_WORD_LENGTH:
        raise ValidationError({"word": where + _("“词语”不能超过 %(n)s 个字。") % {"n": MAX_WORD_LENGTH}})
    if "\n" in word or "\t" in word:
        raise ValidationError({"word": where + _("“词语”不能含换行或制表符。")})
    category = (category or WordCategory.SENSITIVE).strip()
    if category not in WordCategory.values:
        labels = {str(label): value for value, label in WordCategory.choices}
        if category in labels:
            category = labels[category]
        else:
            raise ValidationError({"category": where + _("“类别”须为:%(c)s。") % {
                "c": "、".join(str(label) for _v, label in WordCategory.choices)}})
    return word, category


@atomic_service
def word_add(*, by: Actor, unit: OrgUnit, word: str, category: str = WordCategory.SENSITIVE,
             note: str = "") -> SensitiveWord:
    word, category = _clean_word(word, category)
    if SensitiveWord.objects.filter(org_unit=unit, word=word).exists():
        raise ValidationError({"word": _("“%(w)s”已在%(u)s的词库中。") % {"w": word, "u": unit.name}})
    entry = SensitiveWord.objects.create(word=word, category=category, note=note.strip()[:200],
                                         org_unit=unit, created_by=by.user)
    record(by=by, event_type="checker.word_add", target=entry, org_unit=unit,
           changes={"word": [None, word], "category": [None, category], "note": [None, entry.note]})
    return entry


@atomic_service
def word_delete(*, by: Actor, entry: SensitiveWord) -> None:
    record(by=by, event_type="checker.word_delete", target=entry, org_unit=entry.org_unit,
           changes={"word": [entry.word, None], "category": [entry.category, None]})
    entry.delete()


@dataclass
class ImportResult:
    added: int
    skipped: int  # already in the unit's lexicon, or repeated in the file


def parse_word_list(name: str, data: bytes) -> list[tuple[int, str, str, str]]:
    """Rows (row number, word, category, note) of a .txt (one word a line, optionally
    ``词<TAB>类别<TAB>说明``) or .xlsx (columns 词语, 类别, 说明; a header row is skipped)."""
    from .documents import DocumentError, decode_text

    rows: list[tuple[int, str, str, str]] = []
    if data.startswith(b"PK\x03\x04"):
        import openpyxl

        try:
            book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception:
            raise ValidationError({"file": _("无法读取该 Excel 文件,请使用 .xlsx 格式。")}) from None
        sheet = book.worksheets[0]
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            cells = ["" if v is None else str(v).strip() for v in (list(values) + [None] * 3)[:3]]
            if number == 1 and cells[0] in ("词语", "敏感词", "词", "word"):
                continue
            if cells[0]:
                rows.append((number, cells[0], cells[1], cells[2]))
    else:
        try:
            text = decode_text(data)
        except DocumentError as error:
            raise ValidationError({"file": str(error)}) from None
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            cells = (line.split("\t") + ["", ""])[:3]
            rows.append((number, cells[0].strip(), cells[1].strip(), cells[2].strip()))
    if len(rows) > MAX_IMPORT_ROWS:
        raise ValidationError({"file": _("词表过长:最多 %(n)s 行。") % {"n": MAX_IMPORT_ROWS}})
    if not rows:
        raise ValidationError({"file": _("文件中没有词语。")})
    return rows


@atomic_service
def words_import(*, by: Actor, unit: OrgUnit, name: str, data: bytes) -> ImportResult:
    """All or nothing: one bad row rejects the file with a message naming the row."""
    rows = parse_word_list(name, data)
    existing = set(SensitiveWord.objects.filter(org_unit=unit).values_list("word", flat=True))
    new: dict[str, SensitiveWord] = {}
    skipped = 0
    for number, word, category, note in rows:
        word, category = _clean_word(word, category, number)
        if word in existing or word in new:
            skipped += 1
            continue
        new[word] = SensitiveWord(word=word, category=category, note=note[:200], org_unit=unit,
                                  created_by=by.user)
    SensitiveWord.objects.bulk_create(new.values(), batch_size=1000)
    record(by=by, event_type="checker.words_import", target_type="checker.sensitiveword",
           target_label=name[:200], org_unit=unit,
           changes={"file": name, "added": len(new), "skipped": skipped,
                    "words": sorted(new)[:200]})
    return ImportResult(added=len(new), skipped=skipped)


# --- the lexicon for a check --------------------------------------------------------------

_cache: dict[tuple, Lexicon] = {}
_lock = threading.Lock()


def _related(word_path: str, paths: list[str]) -> bool:
    return any(p.startswith(word_path) or word_path.startswith(p) for p in paths)


def lexicon_for(user=None) -> Lexicon:
    """The words that apply to ``user``'s texts (all words when ``user`` is None: the CLI).

    Compiling 50,000 words takes a moment, so automata are cached per lexicon version (the
    row count and latest change, one cheap query) and per set of units."""
    version = tuple(SensitiveWord.objects.aggregate(n=Count("id"), t=Max("updated_at")).values())
    paths = sorted({path for _role, path, _id in grants(user)}) if user is not None else None
    key = (version, tuple(paths) if paths is not None else None)
    with _lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached
    rows = SensitiveWord.objects.values_list("word", "category", "note", "org_unit__path")
    words = [Word(w, c, n) for w, c, n, path in rows if paths is None or _related(path, paths)]
    built = Lexicon(words)
    with _lock:
        if len(_cache) > 32:
            _cache.clear()
        _cache[key] = built
    return built

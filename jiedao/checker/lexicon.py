"""Words to flag: an admin-managed sensitive-word lexicon (an Aho–Corasick automaton from
``ahocorasick-rs``, see bench/checker_lexicon.py for why that one) and the built-in patterns of
leftover editing marks and filter notices."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import ahocorasick_rs
from django.utils.translation import gettext as _

from .findings import Finding, Kind, Severity

# Category codes shared with models.SensitiveWord.
SENSITIVE = "sensitive"
FILTER_NOTICE = "filter_notice"
EDIT_MARK = "edit_mark"

CATEGORY_KIND = {SENSITIVE: Kind.SENSITIVE, FILTER_NOTICE: Kind.FILTER_NOTICE, EDIT_MARK: Kind.EDIT_MARK}
CATEGORY_SEVERITY = {SENSITIVE: Severity.WARNING, FILTER_NOTICE: Severity.ERROR, EDIT_MARK: Severity.ERROR}

# Marks an editor leaves behind and the notices a word filter writes into the text. These
# need no lexicon: a published summary never contains them on purpose.
BUILTIN_PATTERNS: list[tuple[str, re.Pattern[str], str]] = [
    (FILTER_NOTICE, re.compile(r"敏感词[,，、]?\s*请谨慎使用[。.]?|该词(?:语)?(?:已被|被)?(?:屏蔽|过滤)"),
     "filter_notice"),
    (EDIT_MARK, re.compile(r"[(（【\[]\s*(?:检查|待核实|待核|核实|待定|待补充|待补|待确认|确认|存疑|"
                           r"删除|删|修改|改|此处[^)）】\]]{0,8}|"
                           r"批注|注意|TODO|todo|XX|xx|？+|\?+)\s*[)）】\]]"),
     "edit_mark"),
    (EDIT_MARK, re.compile(r"(?<![A-Za-z])(?:XX+|××+|ＸＸ+|xx+)(?![A-Za-z])"),
     "placeholder"),
    (EDIT_MARK, re.compile(r"TODO|FIXME|待补充|待填写"), "todo"),
]


def _messages() -> dict[str, str]:
    return {
        "filter_notice": _("文中残留了敏感词过滤提示,原词已被替换,请补回恰当的表述。"),
        "edit_mark": _("文中残留了编辑标记,发布前请删除。"),
        "placeholder": _("文中有待填写的占位符。"),
        "todo": _("文中残留了待办标记。"),
    }


# Texts longer than this are scanned in chunks on several threads (a work summary never is).
PARALLEL_CHUNK = 8 * 1024 * 1024
MAX_THREADS = 4


@dataclass(frozen=True)
class Word:
    word: str
    category: str = SENSITIVE
    note: str = ""


class Lexicon:
    """An immutable set of words, compiled once into an automaton; scan() is thread-safe.

    The automaton runs on the text's UTF-8 bytes (``BytesAhoCorasick``): measured here it is
    1.5–2× faster than ahocorasick-rs on ``str``, whose own offset conversion costs more than
    encoding the text and decoding the gaps between matches (bench/checker_lexicon.py)."""

    def __init__(self, words: Iterable[Word | str] = ()):
        entries: dict[str, Word] = {}
        for item in words:
            entry = Word(item) if isinstance(item, str) else item
            word = entry.word.strip()
            if word:
                entries.setdefault(word, Word(word, entry.category, entry.note))
        self.words = list(entries.values())
        self._longest = max((len(w.word.encode("utf-8")) for w in self.words), default=1)
        self._automaton = (
            ahocorasick_rs.BytesAhoCorasick([w.word.encode("utf-8") for w in self.words],
                                            matchkind=ahocorasick_rs.MatchKind.LeftmostLongest)
            if self.words else None
        )

    def __len__(self) -> int:
        return len(self.words)

    def scan(self, text: str, *, chunk_bytes: int = PARALLEL_CHUNK) -> Iterator[tuple[int, int, Word]]:
        """(start, end, word) of each non-overlapping match, offsets in characters."""
        if self._automaton is None:
            return
        data = text.encode("utf-8")
        matches = self._find(data, chunk_bytes)
        if len(data) == len(text):  # ASCII only: bytes are characters
            for index, start, end in matches:
                yield start, end, self.words[index]
            return
        byte_pos = char_pos = 0
        for index, start, end in matches:
            # Matches come in order and whole words never split a character.
            char_pos += len(data[byte_pos:start].decode("utf-8"))
            char_start = char_pos
            char_pos += len(data[start:end].decode("utf-8"))
            byte_pos = end
            yield char_start, char_pos, self.words[index]

    def _find(self, data: bytes, chunk_bytes: int) -> list[tuple[int, int, int]]:
        """The automaton's matches in byte offsets. A long text is cut into chunks scanned on
        several threads (the scan releases the GIL); the result is the same as one scan."""
        automaton = self._automaton
        assert automaton is not None
        workers = min(MAX_THREADS, os.cpu_count() or 1)
        if len(data) <= chunk_bytes or workers < 2:
            return automaton.find_matches_as_indexes(data)
        bounds = [0]
        while bounds[-1] + chunk_bytes < len(data):
            cut = bounds[-1] + chunk_bytes
            while cut < len(data) and 0x80 <= data[cut] < 0xC0:  # not inside a character
                cut += 1
            bounds.append(cut)
        bounds.append(len(data))
        reach = self._longest - 1  # a match starting before a cut may end past it

        def window(i: int) -> list[tuple[int, int, int]]:
            start, end = bounds[i], min(len(data), bounds[i + 1] + reach)
            view = memoryview(data)[start:end]
            return [(k, s + start, e + start) for k, s, e in automaton.find_matches_as_indexes(view)
                    if s + start < bounds[i + 1]]

        with ThreadPoolExecutor(max_workers=workers) as pool:
            parts = list(pool.map(window, range(len(bounds) - 1)))
        merged: list[tuple[int, int, int]] = []
        for i, part in enumerate(parts):
            last_end = merged[-1][2] if merged else 0
            if last_end > bounds[i]:
                # The previous chunk's last match runs over the cut: a single scan would resume
                # after it, so scan again from there (rare: a word straddling a cut).
                end = min(len(data), bounds[i + 1] + reach)
                view = memoryview(data)[last_end:end]
                part = [(k, s + last_end, e + last_end) for k, s, e in automaton.find_matches_as_indexes(view)
                        if s + last_end < bounds[i + 1]]
            merged.extend(part)
        return merged


EMPTY = Lexicon()


def word_findings(index: int, text: str, lexicon: Lexicon) -> list[Finding]:
    """Findings for the lexicon's words and the built-in marks in one paragraph."""
    found: list[Finding] = []
    taken: list[tuple[int, int]] = []
    for category, pattern, message in BUILTIN_PATTERNS:
        for m in pattern.finditer(text):
            if any(s < m.end() and m.start() < e for s, e in taken):
                continue
            taken.append((m.start(), m.end()))
            found.append(Finding(CATEGORY_KIND[category], CATEGORY_SEVERITY[category], index,
                                 m.start(), m.end(), m.group(0), str(_messages()[message])))
    for start, end, word in lexicon.scan(text):
        if any(s <= start and end <= e for s, e in taken):
            continue  # the notice itself is already reported
        kind = CATEGORY_KIND.get(word.category, Kind.SENSITIVE)
        if word.category == SENSITIVE:
            message = _("词库中的敏感词“%(w)s”。") % {"w": word.word}
        elif word.category == FILTER_NOTICE:
            message = _("文中残留了过滤提示“%(w)s”。") % {"w": word.word}
        else:
            message = _("文中残留了编辑标记“%(w)s”。") % {"w": word.word}
        if word.note:
            message += word.note
        found.append(Finding(kind, CATEGORY_SEVERITY.get(word.category, Severity.WARNING), index,
                             start, end, text[start:end], message))
    return found

"""Words to flag: an admin-managed sensitive-word lexicon (an Aho–Corasick automaton from
``ahocorasick-rs``, see bench/checker_lexicon.py for why that one) and the built-in patterns of
leftover editing marks and filter notices."""

from __future__ import annotations

import os
import re
import threading
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from operator import itemgetter

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


# Texts longer than this (in UTF-16 bytes) are scanned in chunks on several threads (a work
# summary never is).
PARALLEL_CHUNK = 8 * 1024 * 1024
MAX_THREADS = 4

# Characters outside the Basic Multilingual Plane: two UTF-16 code units each.
ASTRAL = re.compile("[\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class Word:
    word: str
    category: str = SENSITIVE
    note: str = ""


Match = tuple[int, int, int]  # (word index, start, end) in UTF-16-LE bytes


class Lexicon:
    """An immutable set of words, compiled once into an automaton; scan() is thread-safe.

    The automaton (``BytesAhoCorasick``, leftmost-longest) runs on the text's UTF-16-LE bytes:
    Chinese is two bytes a character there instead of three in UTF-8, encoding a Python string
    to it is close to a copy, and a character offset is a byte offset halved — measured here
    faster than the same automaton on UTF-8 and than ahocorasick-rs on ``str``
    (bench/checker_lexicon.py).

    A byte automaton does not know where characters begin: a word's bytes may turn up at an odd
    offset, across two characters (the high byte of one and the low byte of the next), and the
    greedy scan would then report that match and skip a real one. ``_aligned`` repairs the
    rare stretches where this happens, so the result is the leftmost-longest non-overlapping
    matching on characters. Rare in Chinese; but ASCII is 00 between its letters, so a
    one-character word such as 最 (U+6700: 00 67) sits before every "g" of English text. When
    such matches are many, the text is scanned the former way instead: a second automaton,
    built when first needed, on the UTF-8 bytes, whose offsets are decoded in Python. Text
    that is all ASCII is scanned as it is, by an automaton of the lexicon's ASCII words."""

    def __init__(self, words: Iterable[Word | str] = ()):
        entries: dict[str, Word] = {}
        for item in words:
            entry = Word(item) if isinstance(item, str) else item
            word = entry.word.strip()
            if word:
                entries.setdefault(word, Word(word, entry.category, entry.note))
        self.words = list(entries.values())
        patterns = [w.word.encode("utf-16-le") for w in self.words]
        self._longest = max(map(len, patterns), default=2)  # bytes
        self._automaton = (
            ahocorasick_rs.BytesAhoCorasick(patterns, matchkind=ahocorasick_rs.MatchKind.LeftmostLongest)
            if patterns else None
        )
        self._utf8: tuple[ahocorasick_rs.BytesAhoCorasick, int] | None = None  # (automaton, longest)
        self._utf8_lock = threading.Lock()
        # ASCII text can only hold the ASCII words: a small automaton of its own, no offsets to map.
        ascii_words = [(i, w.word.encode("ascii")) for i, w in enumerate(self.words) if w.word.isascii()]
        self._ascii_index = [i for i, _ in ascii_words]
        self._ascii = (
            ahocorasick_rs.BytesAhoCorasick([p for _, p in ascii_words],
                                            matchkind=ahocorasick_rs.MatchKind.LeftmostLongest),
            max(len(p) for _, p in ascii_words),
        ) if ascii_words else None

    def __len__(self) -> int:
        return len(self.words)

    def scan(self, text: str, *, chunk_bytes: int = PARALLEL_CHUNK) -> Iterator[tuple[int, int, Word]]:
        """(start, end, word) of each non-overlapping match, offsets in characters."""
        if self._automaton is None:
            return
        words = self.words
        if text.isascii():
            if self._ascii is not None:
                index = self._ascii_index
                for k, start, end in self._find(self._ascii[0], text.encode("ascii"), chunk_bytes,
                                                self._ascii[1]):
                    yield start, end, words[index[k]]
            return
        data = text.encode("utf-16-le")
        matches = self._find(self._automaton, data, chunk_bytes, self._longest)
        odd = sum(map(_ODD, map(_START, matches)))
        if self._prefer_utf8(odd, len(data)):
            yield from self._scan_utf8(text, chunk_bytes)
            return
        if odd:
            matches = self._aligned(data, matches)
        if len(data) == 2 * len(text):  # one code unit a character
            for index, start, end in matches:
                yield start >> 1, end >> 1, words[index]
            return
        # Code-unit offsets of the characters outside the BMP (two units each; no word match
        # begins or ends inside one, as no word holds a lone surrogate).
        astral = [m.start() + n for n, m in enumerate(ASTRAL.finditer(text))]
        for index, start, end in matches:
            start >>= 1
            end >>= 1
            yield start - bisect_left(astral, start), end - bisect_left(astral, end), words[index]

    def _aligned(self, data: bytes, matches: list[Match]) -> list[Match]:
        """The character-level matching from the byte-level one (same bytes, same order).

        Up to the first match at an odd offset the two are equal: the greedy scan takes, from
        a position between characters, the leftmost match and the longest there; if that starts
        at an even offset it is also the leftmost between characters, and the longest at that
        start too, so both scans take it and resume at the same place. The stretch from an odd
        match on is rescanned by ``_realign`` until both scans are in step again."""
        out: list[Match] = []
        done = 0  # matches[:done] are accounted for
        for i, match in enumerate(matches):
            if i < done or not match[1] & 1:
                continue
            out.extend(matches[done:i])
            fixed, done = self._realign(data, matches, i)
            out.extend(fixed)
        out.extend(matches[done:])
        return out

    def _realign(self, data: bytes, matches: list[Match], i: int) -> tuple[list[Match], int]:
        """matches[i] starts at an odd offset (the ones before it are right). Returns the
        character-level matches from there up to a position b where both scans are in step, and
        the index of the first byte-level match after b.

        The scans are in step at b when neither has a match running over it: two greedy scans
        that both stand at b (between matches) go on alike. b may be odd: a position inside a
        character stands for the next one, and a byte match at an odd offset after it is
        repaired in turn."""
        automaton = self._automaton
        assert automaton is not None
        longest = self._longest
        n = len(matches)
        start, stop = matches[i][1] + 1, matches[i][2]  # no match at all starts between the
        # greedy position and start - 1.
        # Mostly no word starts between characters inside matches[i]: the scans are then in step
        # at its end. (Leftmost matches from q, restarting after each one at an odd offset.)
        q = start
        while q < stop:
            hits = automaton.find_matches_as_indexes(memoryview(data)[q:stop - 1 + longest])
            if not hits or q + hits[0][1] >= stop:
                return [], i + 1
            if not hits[0][1] & 1:
                break  # a character-level match starts inside matches[i]
            q += hits[0][1] + 1
        else:
            return [], i + 1
        size = max(_WINDOW, 4 * longest)
        while True:
            end = min(len(data), start + size)
            # A window that stops short of the text shows every match that starts at or before
            # end - longest as a scan of the whole text would.
            bound = end if end == len(data) else end - longest
            found = self._char_scan(data, start, end)
            a = 0  # found's gaps: [start, found[0].start], [found[0].end, found[1].start], …
            j = i  # the byte scan's gaps: [matches[i].end, matches[i + 1].start], …
            while True:
                low_a, high_a = found[a - 1][2] if a else start, found[a][1] if a < len(found) else len(data)
                low_j, high_j = matches[j][2], matches[j + 1][1] if j + 1 < n else len(data)
                b = max(low_a, low_j)
                if b > bound:
                    break
                if b <= high_a and b <= high_j:
                    return found[:a], j + 1
                if high_a < high_j:
                    a += 1
                else:
                    j += 1
            size *= 2

    def _char_scan(self, data: bytes, start: int, end: int) -> list[Match]:
        """The character-level matching of data[start:end], start even: the byte-level scan,
        restarted one byte after each match at an odd offset (nothing starts between the greedy
        position and that match, so the next character-level match starts after it). Each call
        of the automaton looks at a short stretch, so that many restarts cost little."""
        automaton = self._automaton
        assert automaton is not None
        longest = self._longest
        step = max(_WINDOW, 4 * longest)
        view = memoryview(data)
        found: list[Match] = []
        while start < end:
            stop = min(end, start + step)
            limit = stop if stop == end else stop - longest  # matches starting here or before are right
            resume = limit + 1  # no match starts between the last one taken and limit
            for index, s, e in automaton.find_matches_as_indexes(view[start:stop]):
                s += start
                if s > limit:
                    break
                if s & 1:
                    resume = s + 1
                    break
                found.append((index, s, e + start))
                resume = max(resume, e + start)
            start = resume
        return found

    @staticmethod
    def _prefer_utf8(odd: int, size: int) -> bool:
        """Whether to scan the UTF-8 rather than repair this many odd matches in size bytes.
        A repair costs a few microseconds: once in 128 characters it costs more than the
        UTF-8 scan with its decoding."""
        return odd > 64 and odd > size >> 8

    def _scan_utf8(self, text: str, chunk_bytes: int) -> Iterator[tuple[int, int, Word]]:
        """The scan on UTF-8 bytes, where matches never straddle characters."""
        with self._utf8_lock:
            if self._utf8 is None:
                patterns = [w.word.encode("utf-8") for w in self.words]
                self._utf8 = (ahocorasick_rs.BytesAhoCorasick(
                    patterns, matchkind=ahocorasick_rs.MatchKind.LeftmostLongest), max(map(len, patterns)))
        automaton, longest = self._utf8
        data = text.encode("utf-8")
        byte_pos = char_pos = 0
        for index, start, end in self._find(automaton, data, chunk_bytes, longest):
            # Matches come in order and whole words never split a character.
            char_pos += len(data[byte_pos:start].decode("utf-8"))
            char_start = char_pos
            char_pos += len(data[start:end].decode("utf-8"))
            byte_pos = end
            yield char_start, char_pos, self.words[index]

    @staticmethod
    def _find(automaton: ahocorasick_rs.BytesAhoCorasick, data: bytes, chunk_bytes: int,
              longest: int) -> list[Match]:
        """The automaton's matches in byte offsets. A long text is cut into chunks scanned on
        several threads (the scan releases the GIL); the result is the same as one scan."""
        workers = min(MAX_THREADS, os.cpu_count() or 1)
        if len(data) <= chunk_bytes or workers < 2:
            return automaton.find_matches_as_indexes(data)
        bounds = [0]
        while bounds[-1] + chunk_bytes < len(data):
            cut = bounds[-1] + chunk_bytes
            bounds.append(min(len(data), cut + (cut & 1)))  # any cut would do; this one is tidy
        if bounds[-1] < len(data):
            bounds.append(len(data))
        reach = longest - 1  # a match starting before a cut may end past it

        def window(i: int) -> list[Match]:
            start, end = bounds[i], min(len(data), bounds[i + 1] + reach)
            view = memoryview(data)[start:end]
            return [(k, s + start, e + start) for k, s, e in automaton.find_matches_as_indexes(view)
                    if s + start < bounds[i + 1]]

        with ThreadPoolExecutor(max_workers=workers) as pool:
            parts = list(pool.map(window, range(len(bounds) - 1)))
        merged: list[Match] = []
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


_START = itemgetter(1)
_WINDOW = 256  # bytes: a repair's first window, and each automaton call's in one
_ODD = (1).__and__


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

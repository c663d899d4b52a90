"""The lexicon automaton: character offsets from a byte scan, and chunked (threaded) scans of
long texts equal to one scan."""

from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from jiedao.checker.lexicon import Lexicon, Word, word_findings

ALPHABET = "机密绝内部资料敏感词请谨慎使用中文ab"


def test_offsets_are_characters_in_mixed_text():
    lexicon = Lexicon(["机密", "ab", "内部资料", "内部"])
    text = "x机密yab中文内部资料 ab"
    found = [(s, e, w.word) for s, e, w in lexicon.scan(text)]
    assert found == [(1, 3, "机密"), (4, 6, "ab"), (8, 12, "内部资料"), (13, 15, "ab")]
    assert all(text[s:e] == w for s, e, w in found)  # leftmost-longest: 内部资料, not 内部


def test_duplicates_and_blanks_are_dropped():
    lexicon = Lexicon([Word("机密", "sensitive"), Word(" 机密 ", "edit_mark"), ""])
    assert [(w.word, w.category) for w in lexicon.words] == [("机密", "sensitive")]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=ALPHABET, min_size=1, max_size=4), min_size=1, max_size=12),
       st.text(alphabet=ALPHABET, max_size=400), st.integers(min_value=3, max_value=40))
def test_a_chunked_scan_equals_one_scan(words, text, chunk):
    lexicon = Lexicon(words)
    one = list(lexicon.scan(text, chunk_bytes=10**9))
    assert list(lexicon.scan(text, chunk_bytes=chunk)) == one
    assert all(text[s:e] == w.word for s, e, w in one)


def test_builtin_marks_do_not_double_the_lexicons():
    lexicon = Lexicon([Word("敏感词,请谨慎使用", "filter_notice"), Word("(检查)", "edit_mark")])
    findings = word_findings(0, "对困难敏感词,请谨慎使用。,(检查)泰江来小区", lexicon)
    assert [(f.kind, f.quote) for f in findings] == [
        ("filter_notice", "敏感词,请谨慎使用。"), ("editing_mark", "(检查)")]


# The automaton runs on UTF-16-LE bytes, where a word's bytes can also turn up at an odd offset,
# across two characters: "egg" is 65 00 67 00 67 00 and 最 (U+6700) is 00 67. The scan must
# still be the leftmost-longest matching on characters.

def reference(words, text):
    """Leftmost-longest non-overlapping matching on characters, the slow obvious way."""
    vocabulary = {w.strip() for w in words if w.strip()}
    lengths = sorted({len(w) for w in vocabulary}, reverse=True)
    found, i = [], 0
    while i < len(text):
        for n in lengths:
            if i + n <= len(text) and text[i:i + n] in vocabulary:
                found.append((i, i + n, text[i:i + n]))
                i += n
                break
        else:
            i += 1
    return found


def scanned(lexicon, text, **kwargs):
    return [(s, e, w.word) for s, e, w in lexicon.scan(text, **kwargs)]


# Many byte matches at odd offsets send the scan to UTF-8; these force either way.
REPAIR = staticmethod(lambda odd, size: False)
UTF8 = staticmethod(lambda odd, size: True)


def every_way(lexicon, text, **kwargs):
    """The scan as it chooses, always repaired, and always on UTF-8 — which must agree."""
    found = scanned(lexicon, text, **kwargs)
    for way in (REPAIR, UTF8):
        with mock.patch.object(Lexicon, "_prefer_utf8", way):
            assert scanned(lexicon, text, **kwargs) == found
    return found


def test_a_word_across_two_characters_is_not_a_match():
    assert every_way(Lexicon(["最"]), "egg, 最好") == [(5, 6, "最")]


def test_a_match_across_two_characters_does_not_hide_a_real_one():
    # At byte 1 the bytes of 最 (00 67) are found first; g好 starts at byte 2 and must win.
    assert every_way(Lexicon(["最", "g好"]), "ag好") == [(1, 3, "g好")]
    assert every_way(Lexicon(["最", "好"]), "egg好 最") == [(3, 4, "好"), (5, 6, "最")]


def test_a_long_misaligned_stretch():
    # 一 is 00 4E, N is 4E 00: every N after the first starts a byte match at an odd offset,
    # for longer than the first window the repair looks at.
    words = ["一", "NN", "中文"]
    for text in ["N" * 3000 + "中文", "a" + "N" * 3001 + "一中文", "一" + "N" * 5 + "a" * 999 + "N" * 7]:
        assert every_way(Lexicon(words), text) == reference(words, text)
        assert every_way(Lexicon(words), text, chunk_bytes=64) == reference(words, text)


def test_characters_outside_the_bmp():
    lexicon = Lexicon(["𠮷野家", "野", "家", "😀"])
    text = "吉野家和𠮷野家😀😀家"
    assert every_way(lexicon, text) == [(1, 2, "野"), (2, 3, "家"), (4, 7, "𠮷野家"), (7, 8, "😀"),
                                        (8, 9, "😀"), (9, 10, "家")]
    assert every_way(lexicon, text, chunk_bytes=3) == scanned(lexicon, text)


# Characters made of four bytes only, so that any two neighbouring bytes read as a character of
# the same alphabet; plus a few ordinary and non-BMP characters.
BYTES = (0x00, 0x4E, 0x61, 0x67)
CROSSING = "".join(chr(lo | hi << 8) for hi in BYTES for lo in BYTES if lo | hi)
MIXED = CROSSING + "中文机密 ,。𠮷😀"


@st.composite
def misaligned_words(draw, alphabet):
    """Text, and words some of which are the text's own UTF-16 bytes read one byte off."""
    text = draw(st.text(alphabet=alphabet, max_size=300))
    words = draw(st.lists(st.text(alphabet=alphabet, min_size=1, max_size=4), max_size=8))
    data = text.encode("utf-16-le")
    for _ in range(draw(st.integers(0, 6))):
        if len(data) < 4:
            break
        at = draw(st.integers(0, len(data) // 2 - 2)) * 2 + 1
        size = draw(st.integers(1, min(4, (len(data) - at) // 2))) * 2
        try:
            words.append(data[at:at + size].decode("utf-16-le"))
        except UnicodeDecodeError:  # half a surrogate pair
            pass
    return [w for w in words if w.strip()], text


@settings(max_examples=400, deadline=None)
@given(misaligned_words(CROSSING), st.integers(min_value=1, max_value=64))
def test_misaligned_bytes_give_the_character_matching(case, chunk):
    words, text = case
    expected = reference(words, text)
    lexicon = Lexicon(words)
    assert every_way(lexicon, text) == expected
    assert every_way(lexicon, text, chunk_bytes=chunk) == expected


@settings(max_examples=300, deadline=None)
@given(misaligned_words(MIXED), st.integers(min_value=1, max_value=64))
def test_mixed_and_non_bmp_text_give_the_character_matching(case, chunk):
    words, text = case
    expected = reference(words, text)
    lexicon = Lexicon(words)
    assert every_way(lexicon, text) == expected
    assert every_way(lexicon, text, chunk_bytes=chunk) == expected


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(alphabet="abcN g", min_size=1, max_size=3), min_size=1, max_size=8),
       st.text(alphabet="abcN g", max_size=200), st.integers(min_value=1, max_value=16))
def test_ascii_text(words, text, chunk):
    # All-ASCII text has an automaton of its own; in a longer text the same stretch goes
    # through UTF-16, where 最 (00 67) and 一 (00 4E) match one byte off.
    for lexicon_words in (words, ["最", "一"] + words):
        expected = reference(lexicon_words, text)
        assert every_way(Lexicon(lexicon_words), text) == expected
        assert every_way(Lexicon(lexicon_words), text, chunk_bytes=chunk) == expected
        shifted = [(s + 1, e + 1, w) for s, e, w in expected]
        assert every_way(Lexicon(lexicon_words), "中" + text) == shifted


def test_a_word_at_the_edge_of_the_repairs_window():
    # "a" then N N … : the byte scan finds 一 (00 4E) at every odd offset, the characters are NN
    # NN …, and the two scans never stand at the same place until after the long word — which
    # a stretch of the text cut short would miss. Its place moves across the repair's windows.
    long_word = chr(0x4E4E) + "机密文件内容资料"  # begins with the byte 4E
    words = ["一", "NN", long_word]
    for pairs in range(0, 300, 3):
        text = "a" + "NN" * pairs + long_word + "。"
        assert every_way(Lexicon(words), text) == reference(words, text), pairs


def test_many_misaligned_matches_are_scanned_on_utf8():
    english = "Aggregated figures, progress and the gaps along the way. " * 40
    lexicon = Lexicon(["最", "进度", "最好"])
    chinese = "本季度进度正常,最好再加快。" * 40
    assert every_way(lexicon, chinese) == reference(["最", "进度", "最好"], chinese)
    assert lexicon._utf8 is not None  # every_way forced it
    lexicon = Lexicon(["最", "进度", "最好"])
    assert scanned(lexicon, chinese) == reference(["最", "进度", "最好"], chinese)
    assert lexicon._utf8 is None  # no odd match: UTF-16 alone
    text = english + chinese
    assert every_way(lexicon, text) == reference(["最", "进度", "最好"], text)
    lexicon = Lexicon(["最", "进度", "最好"])
    assert scanned(lexicon, text) == reference(["最", "进度", "最好"], text)
    assert lexicon._utf8 is not None  # 最 (00 67) before each "g": 280 odd matches

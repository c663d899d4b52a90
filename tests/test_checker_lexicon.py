"""The lexicon automaton: character offsets from a byte scan, and chunked (threaded) scans of
long texts equal to one scan."""

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

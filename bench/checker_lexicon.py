"""Scanning Chinese text for a 50,000-word lexicon: the checker's ``Lexicon.scan``
(ahocorasick-rs on the text's UTF-16-LE bytes) next to its previous method (the same automaton
on UTF-8, offsets decoded in Python), the bare automata, ahocorasick-rs on ``str``,
pyahocorasick and a plain ``str.find`` loop, measured in the same run.

    .venv/bin/python bench/checker_lexicon.py                 # 50,000 words, 100 MB of text
    .venv/bin/python bench/checker_lexicon.py --mb 10 --words 10000    # quick look

The text is the seed summary's sentences shuffled into a 1 MB block with lexicon words
sprinkled in (about one every 300 characters, so there is something to find), repeated to the
requested size; sizes are UTF-8 megabytes (10^6 bytes) whatever encoding a method scans. The
words are 2–4 characters drawn from the seed's own characters and the common CJK block. The
``str.find`` loop (one scan of the text per word) is far too slow for the whole text: it runs
on a small slice and its time is extrapolated linearly to the full size — the printout says so.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED = Path(__file__).resolve().parent.parent / "jiedao" / "demo" / "seed" / "chaonong_2021_summary.txt"


def make_words(n: int, rng: random.Random, alphabet: str) -> list[str]:
    words: set[str] = set()
    while len(words) < n:
        words.add("".join(rng.choice(alphabet) for _ in range(rng.choice((2, 2, 3, 3, 4)))))
    return sorted(words)


def make_text(mb: int, words: list[str], rng: random.Random) -> str:
    seed = SEED.read_text(encoding="utf-8")
    sentences = [s + "。" for s in seed.replace("\n", "。").split("。") if s]
    block: list[str] = []
    size = 0
    while size < 1_000_000:
        piece = rng.choice(sentences)
        if rng.random() < 0.4:
            piece = piece[: len(piece) // 2] + rng.choice(words) + piece[len(piece) // 2:]
        block.append(piece)
        size += len(piece.encode("utf-8"))
    chunk = "".join(block)
    chunk_bytes = len(chunk.encode("utf-8"))
    text = chunk * max(1, round(mb * 1_000_000 / chunk_bytes))
    return text


CPU: dict[str, float] = {}


def timed(func, key: str = ""):
    """Wall time; the process's CPU time goes to CPU[key] (the machine may be shared)."""
    start, cpu = time.perf_counter(), time.process_time()
    result = func()
    if key:
        CPU[key] = time.process_time() - cpu
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--words", type=int, default=50_000)
    parser.add_argument("--find-chars", type=int, default=20_000,
                        help="slice on which the str.find loop runs (then extrapolated)")
    parser.add_argument("--skip-pyahocorasick", action="store_true")
    args = parser.parse_args()

    import ahocorasick
    import ahocorasick_rs

    rng = random.Random(20211231)
    seed_chars = sorted({c for c in SEED.read_text(encoding="utf-8") if "\u4e00" <= c <= "\u9fff"})
    alphabet = "".join(seed_chars) + "".join(chr(0x4E00 + rng.randrange(0x51A5)) for _ in range(2000))
    words = make_words(args.words, rng, alphabet)
    text = make_text(args.mb, words, rng)
    size_mb = len(text.encode("utf-8")) / 1_000_000
    load = os.getloadavg()[0]
    print(f"## Lexicon scan — {len(words):,} words, {size_mb:.1f} MB UTF-8 ({len(text):,} characters)\n")
    print(f"Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cores, "
          f"load average {load:.1f}; ahocorasick-rs {version('ahocorasick-rs')}, "
          f"pyahocorasick {version('pyahocorasick')}\n")

    rows = []
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jiedao.settings")
    import django

    django.setup()
    from jiedao.checker.lexicon import MAX_THREADS, PARALLEL_CHUNK, Lexicon

    build, lexicon = timed(lambda: Lexicon(words))
    data16 = text.encode("utf-16-le")
    bare16 = lexicon._automaton.find_matches_as_indexes(data16)
    odd = sum(1 for _, start, _ in bare16 if start & 1)
    repairs = (("UTF-8 scan instead: " if lexicon._prefer_utf8(odd, len(data16)) else "repaired: ")
               + f"{odd:,} byte matches at an odd offset") if odd else "no byte match at an odd offset"
    scan, found = timed(lambda: sum(1 for _ in lexicon.scan(text)), "lex")
    chunks = -(-len(data16) // PARALLEL_CHUNK)
    threads = min(MAX_THREADS, os.cpu_count() or 1)
    how = (f"{chunks} chunks of {PARALLEL_CHUNK / 2**20:g} MiB on {threads} threads"
           if chunks > 1 and threads > 1 else "1 thread (the text is one chunk)")
    rows.append((f"**the checker's `Lexicon.scan`**: ahocorasick-rs `BytesAhoCorasick` on UTF-16-LE, {how}, "
                 f"with encoding and character offsets", build, scan, found, f"measured; {repairs}",
                 CPU["lex"]))
    scan, found1 = timed(lambda: sum(1 for _ in lexicon.scan(text, chunk_bytes=10**12)), "lex1")
    assert found1 == found
    rows.append(("the same on one thread", 0.0, scan, found1, "measured", CPU["lex1"]))

    automaton16 = lexicon._automaton
    scan, matches = timed(lambda: automaton16.find_matches_as_indexes(data16), "rs16")
    rows.append(("ahocorasick-rs `BytesAhoCorasick` on UTF-16-LE, the bare scan (byte offsets, 1 thread)",
                 0.0, scan, len(matches), "measured", CPU["rs16"]))

    build, automaton8 = timed(lambda: ahocorasick_rs.BytesAhoCorasick(
        [w.encode("utf-8") for w in words], matchkind=ahocorasick_rs.MatchKind.LeftmostLongest))
    data8 = text.encode("utf-8")
    scan, matches = timed(lambda: automaton8.find_matches_as_indexes(data8), "rs8")
    rows.append(("ahocorasick-rs `BytesAhoCorasick` on UTF-8, the bare scan (byte offsets, 1 thread)", build,
                 scan, len(matches), "measured", CPU["rs8"]))

    def previous():
        """The checker's method until issue 6: UTF-8 bytes, character offsets decoded in Python."""
        data = text.encode("utf-8")
        found = []
        byte_pos = char_pos = 0
        for index, start, end in automaton8.find_matches_as_indexes(data):
            char_pos += len(data[byte_pos:start].decode("utf-8"))
            char_start = char_pos
            char_pos += len(data[start:end].decode("utf-8"))
            byte_pos = end
            found.append((char_start, char_pos, index))
        return found

    scan, before = timed(previous, "prev")
    assert [(s, e, words[k]) for s, e, k in before] == [(s, e, w.word) for s, e, w in lexicon.scan(text)]
    rows.append(("the checker's previous method: the same on UTF-8 with encoding, byte→character offsets "
                 "decoded in Python (1 thread)", 0.0, scan, len(before), "measured; same matches as "
                 "`Lexicon.scan`", CPU["prev"]))

    build, on_str = timed(lambda: ahocorasick_rs.AhoCorasick(
        words, matchkind=ahocorasick_rs.MatchKind.LeftmostLongest))
    scan, matches = timed(lambda: on_str.find_matches_as_indexes(text), "rs")
    rows.append(("ahocorasick-rs `AhoCorasick` on `str` (character offsets)", build, scan, len(matches),
                 "measured", CPU["rs"]))

    if not args.skip_pyahocorasick:
        def build_py():
            a = ahocorasick.Automaton()
            for i, w in enumerate(words):
                a.add_word(w, i)
            a.make_automaton()
            return a

        build, pya = timed(build_py)
        scan, count = timed(lambda: sum(1 for _ in pya.iter_long(text)), "py")
        rows.append(("pyahocorasick (str, iter_long)", build, scan, count, "measured", CPU["py"]))

    sample = text[: args.find_chars]
    sample_mb = len(sample.encode("utf-8")) / 1_000_000

    def find_loop():
        hits = 0
        for w in words:
            i = sample.find(w)
            while i != -1:
                hits += 1
                i = sample.find(w, i + len(w))
        return hits

    scan_sample, hits = timed(find_loop, "find")
    factor = size_mb / sample_mb
    rows.append((f"plain str.find loop (one pass per word) on a {len(sample):,}-character slice", 0.0,
                 scan_sample * factor, hits,
                 f"extrapolated ×{factor:,.0f} from {scan_sample:.2f} s on the slice (matches: slice only)",
                 CPU["find"] * factor))

    print("| method | build (s) | scan of the whole text (s, wall) | MB/s (wall) | MB/s (CPU time) "
          "| matches | note |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, build, scan, count, note, cpu in rows:
        print(f"| {name} | {build:.2f} | {scan:,.1f} | {size_mb / scan:,.2f} | {size_mb / cpu:,.2f} "
              f"| {count:,} | {note} |")
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

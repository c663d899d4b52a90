"""Checking one 20,000-character work summary with a 50,000-word lexicon: target ≤ 200 ms.

    .venv/bin/python bench/checker_summary.py [--chars 20000] [--words 50000] [--runs 20]

The summary is the seed's paragraphs repeated until it reaches the size (so it carries the
seed's real arithmetic, lists and marks). The lexicon's automaton is built once beforehand,
as the service caches it between checks. Also shown: reading the numbers alone, the HTML
view, and the annotated .docx (not part of the target).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED = Path(__file__).resolve().parent.parent / "jiedao" / "demo" / "seed" / "chaonong_2021_summary.txt"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chars", type=int, default=20_000)
    parser.add_argument("--words", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jiedao.settings")
    import django

    django.setup()
    from jiedao.checker.documents import annotate_docx, render_html
    from jiedao.checker.engine import check_paragraphs
    from jiedao.checker.lexicon import Lexicon
    from jiedao.checker.numbers import mentions

    seed = [p for p in SEED.read_text(encoding="utf-8").split("\n")]
    paragraphs: list[str] = []
    while sum(len(p) for p in paragraphs) < args.chars:
        paragraphs.extend(seed)
    while sum(len(p) for p in paragraphs) > args.chars and len(paragraphs) > 1:
        paragraphs.pop()
    chars = sum(len(p) for p in paragraphs)

    rng = random.Random(7)
    alphabet = "".join(sorted({c for c in "".join(seed) if "\u4e00" <= c <= "\u9fff"}))
    words: set[str] = set()
    while len(words) < args.words:
        words.add("".join(rng.choice(alphabet) for _ in range(rng.choice((3, 4, 4, 5)))))
    start = time.perf_counter()
    lexicon = Lexicon(sorted(words))
    build = time.perf_counter() - start

    def measure(func) -> tuple[float, float, float, float]:
        times, cpu = [], []
        for _ in range(args.runs):
            t, c = time.perf_counter(), time.process_time()
            func()
            times.append((time.perf_counter() - t) * 1000)
            cpu.append((time.process_time() - c) * 1000)
        return statistics.median(times), min(times), max(times), statistics.median(cpu)

    report = check_paragraphs(paragraphs, lexicon=lexicon)
    rows = [
        ("check (numbers, 7 rules, lexicon, marks) — the target", measure(
            lambda: check_paragraphs(paragraphs, lexicon=lexicon))),
        ("check without a lexicon", measure(lambda: check_paragraphs(paragraphs))),
        ("reading the numbers only", measure(lambda: [mentions(p) for p in paragraphs])),
        ("HTML view", measure(lambda: render_html(paragraphs, report.findings))),
        ("annotated .docx (new document)", measure(lambda: annotate_docx(None, paragraphs, report.findings))),
    ]
    print(f"## Checking a {chars:,}-character summary ({len(paragraphs)} paragraphs), "
          f"{len(lexicon):,}-word lexicon\n")
    print(f"Python {platform.python_version()}, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f}; automaton built once in {build:.2f} s; "
          f"{len(report.findings)} findings, {len(report.confirmed)} confirmed; {args.runs} runs\n")
    print("| step | median ms (wall) | min–max ms (wall) | median ms (CPU of this process) |")
    print("|---|---:|---:|---:|")
    for name, (median, low, high, cpu) in rows:
        print(f"| {name} | {median:.1f} | {low:.1f}–{high:.1f} | {cpu:.1f} |")


if __name__ == "__main__":
    main()

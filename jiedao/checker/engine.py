"""The checker: text in, findings out. No database here — the lexicon and the source of
expected figures are passed in, so the core is fast and testable on its own."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from django.utils.translation import gettext as _

from .findings import SEVERITY_ORDER, Confirmed, Finding, Kind, Severity
from .lexicon import EMPTY, Lexicon, word_findings
from .numbers import Mention, fmt, mentions
from .rules import RULES, Para


@dataclass(frozen=True)
class Expected:
    """A value jiedao's own records give for the figure a mention states."""

    value: Decimal | int
    label: str  # what the figure is (服务对象人数)
    source: str = ""  # where it comes from, shown to the reader (figure code, link)


class ExpectedFigures(Protocol):
    """A source of expected values (the figure registry plugs in here, with its street and
    period). Return None when the mention is not a figure the source knows."""

    def expected_for(self, paragraph: str, mention: Mention) -> Expected | None: ...


class NoExpectedFigures:
    """The default: nothing to compare against."""

    def expected_for(self, paragraph: str, mention: Mention) -> Expected | None:
        return None


NO_EXPECTED = NoExpectedFigures()


@dataclass
class Report:
    paragraphs: list[str]
    findings: list[Finding] = field(default_factory=list)
    confirmed: list[Confirmed] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == Severity.ERROR]

    def as_dict(self) -> dict:
        return {
            "paragraph_count": len(self.paragraphs),
            "character_count": sum(len(p) for p in self.paragraphs),
            "findings": [f.as_dict() for f in self.findings],
            "confirmed": [c.as_dict() for c in self.confirmed],
        }


def split_paragraphs(text: str) -> list[str]:
    """Paragraphs of a plain text: one per line (the way summaries are pasted)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    return text.split("\n")


def _figure_findings(index: int, text: str, ms: list[Mention], expected: ExpectedFigures) -> list[Finding]:
    found = []
    for m in ms:
        if not m.unit:
            continue
        exp = expected.expected_for(text, m)
        if exp is None:
            continue
        value = Decimal(exp.value)
        if m.low <= value <= m.high:
            continue
        found.append(Finding(
            Kind.FIGURE, Severity.WARNING if m.is_approx else Severity.ERROR, index, m.start, m.end, m.text,
            _("系统记录中“%(label)s”为 %(value)s%(unit)s,文中为 %(stated)s。") % {
                "label": exp.label, "value": fmt(value), "unit": m.unit, "stated": m.text},
            f"{m.text} ≠ {fmt(value)}{m.unit}" + (f" ({exp.source})" if exp.source else ""),
        ))
    return found


def check_paragraphs(paragraphs: list[str], *, lexicon: Lexicon = EMPTY,
                     expected: ExpectedFigures = NO_EXPECTED) -> Report:
    report = Report(paragraphs=list(paragraphs))
    for index, text in enumerate(paragraphs):
        if not text.strip():
            continue
        ms = mentions(text) if re.search(r"[\d一二两三四五六七八九十]", text) else []
        para = Para(index, text, ms)
        seen: set[tuple] = set()
        for rule in RULES:
            for result in rule(para):
                key = (type(result), result.kind, result.start, result.end)
                if key in seen:
                    continue
                seen.add(key)
                if isinstance(result, Finding):
                    report.findings.append(result)
                else:
                    report.confirmed.append(result)
        report.findings.extend(word_findings(index, text, lexicon))
        if not isinstance(expected, NoExpectedFigures):
            report.findings.extend(_figure_findings(index, text, ms, expected))
    # A span confirmed by one rule but contradicted by another is a finding only.
    report.findings.sort(key=lambda f: (f.paragraph, f.start, SEVERITY_ORDER.get(f.severity, 9), f.kind))
    report.confirmed.sort(key=lambda c: (c.paragraph, c.start))
    return report


def check_text(text: str, *, lexicon: Lexicon = EMPTY, expected: ExpectedFigures = NO_EXPECTED) -> Report:
    return check_paragraphs(split_paragraphs(text), lexicon=lexicon, expected=expected)

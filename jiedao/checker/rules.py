"""The arithmetic checks, one function per pattern of real work summaries.

Each rule reads one paragraph (its text and its :class:`~jiedao.checker.numbers.Mention`
list) and yields findings and confirmations. The rules are deliberately conservative: a
pattern is checked only when its shape is unambiguous (an explicit 其中, a parenthesised
breakdown, a 累计 after its parts, a target and an actual beside a 完成进度); anything else is
left alone, because a false alarm on a correct summary costs more trust than a missed one.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.utils.translation import gettext as _

from .findings import Confirmed, Finding, Kind, Severity
from .numbers import CLASSIFIERS, Mention, fmt, parse_chinese, sentences

# Labels that make a number a plan, a comparison or a share — never a part of a sum.
NOT_A_PART = re.compile(
    r"任务|计划|目标|同比|环比|上年|去年|同期|增长|下降|增加|减少|预计|占|平均|人均|比例|率")
TOTAL_WORDS = re.compile(r"(累计|共计|合计|总计|总共|共)[^,，、;；。]{0,12}$")
PARTIAL_WORDS = re.compile(r"等|部分|主要|…|\.\.\.")
RECEIVED = re.compile(r"受理|收集|收到|接到|排查出|摸排出|发现|反馈|登记|接收")
CLOSED = re.compile(r"结案|办结|整改|化解|解决|调处|处置|销号|消除")
OUTCOMES = re.compile(r"办结|转办|解释|无法解决|正在办理|在办|办理中|已解决")
ALL_CLAIM = re.compile(r"全部|均已|均|悉数")
PROGRESS_WORDS = re.compile(r"完成进度|已完成|完成率|进度")
TARGET_WORDS = re.compile(r"任务|计划|目标")
ACTUAL_WORDS = re.compile(r"完成|累计|实际|到位")
GROWTH_WORDS = re.compile(r"(同比|比上年|较上年|比去年|较去年)?(增长|增加|下降|减少)$")
YEAR_RE = re.compile(r"(\d{4})年|(去年|上年)(同期)?|(今年|本年)")
RATE_RE = re.compile(r"(结案|办结|整改|化解|调处|解决|处置|销号)率$")
# Parts after 其中 that add up to less than this share of the total are taken as highlights.
QIZHONG_COVERAGE = Decimal("0.8")
LIST_STOPS = "、,，;；。:：“”\"'(（)）《》 "
OPEN = "(（"
CLOSE = ")）"


@dataclass
class Para:
    index: int
    text: str
    mentions: list[Mention]

    def __post_init__(self) -> None:
        self.sentences = sentences(self.text)
        # The parenthesis depth after each bracket (a breakdown in brackets is one level down).
        self._marks: list[int] = []
        self._levels: list[int] = []
        level = 0
        for match in re.finditer(r"[(（)）]", self.text):
            if match.group() in OPEN:
                level += 1
                self._marks.append(match.start())
            else:
                # A closing bracket still belongs to its level; the level drops after it.
                level = max(0, level - 1)
                self._marks.append(match.start() + 1)
            self._levels.append(level)

    def sentence_span(self, i: int) -> tuple[int, int]:
        return self.sentences[i]

    def in_sentence(self, i: int) -> list[Mention]:
        return [m for m in self.mentions if m.sentence == i]

    def depth_at(self, pos: int) -> int:
        i = bisect_right(self._marks, pos)
        return self._levels[i - 1] if i else 0


Result = Finding | Confirmed


def _quantity(m: Mention) -> bool:
    return bool(m.unit) and m.unit != "%"


def compatible(total: Mention, part: Mention) -> bool:
    """May ``part`` be counted into ``total``? Same unit (人 and 人次 never mix) — except
    vaccination, where each person vaccinated with a dose is one dose (接种…42345人 → 剂次)."""
    if total.unit == part.unit:
        return True
    if total.unit in ("剂", "剂次") and part.unit in ("人", "人次", "剂", "剂次"):
        return "接种" in part.before or "剂" in part.before
    return False


def _range_text(ms: list[Mention]) -> str:
    return "+".join(m.written for m in ms)


def _compare_sum(para: Para, total: Mention, parts: list[Mention], partial: bool,
                 kind: str = Kind.SUM, closed_list: bool = False,
                 coverage_floor: Decimal = Decimal(0)) -> Iterator[Result]:
    """``closed_list``: the parts are meant to be all of the total (a 累计 after its parts),
    so a shortfall is as much an error as an excess. ``coverage_floor``: below this share of
    the total, parts that fall short read as highlights ("其中党员120人、群众45人"), not as a
    breakdown, and are left alone."""
    low = sum((p.low for p in parts), Decimal(0))
    high = sum((p.high for p in parts), Decimal(0))
    shown = total.in_scale(sum((p.value for p in parts), Decimal(0)))
    arithmetic_ok = f"{_range_text(parts)} = {total.written}"
    related = tuple((p.start, p.end) for p in parts)
    approx = total.is_approx or any(p.is_approx for p in parts)
    if low <= total.high and high >= total.low:
        yield Confirmed(kind, para.index, total.start, total.end, total.text,
                        arithmetic_ok if not approx else f"{_range_text(parts)} ≈ {total.written}")
        return
    arithmetic = f"{_range_text(parts)} = {shown} ≠ {total.written}"
    what = f"“{total.counts}”" if total.counts else ""
    if low > total.high:
        message = what + _("分项之和 %(sum)s%(unit)s 大于所述合计 %(total)s%(unit)s。") % {
            "sum": shown, "total": total.written, "unit": total.unit}
        severity = Severity.WARNING if approx else Severity.ERROR
    else:
        if partial or (total.low and high < total.low * coverage_floor):
            return
        values = {"sum": shown, "total": total.written, "unit": total.unit}
        message = what + _("分项之和 %(sum)s%(unit)s 小于所述合计 %(total)s%(unit)s,"
                           "请核对是否漏列或合计有误。") % values
        severity = Severity.ERROR if closed_list and not approx else Severity.WARNING
    yield Finding(kind, severity, para.index, total.start, total.end, total.text, message,
                  arithmetic, related)


def _parts_in(para: Para, start: int, end: int, level: int) -> list[Mention]:
    return [m for m in para.mentions if start <= m.start < end and para.depth_at(m.start) == level]


def _plan_like(ms: list[Mention]) -> bool:
    return any(NOT_A_PART.search(m.before) for m in ms)


def rule_qizhong(para: Para) -> Iterator[Result]:
    """共有楼宇7栋,其中已成型5栋…、正在形成的2栋…、开发建设中的1栋: parts after 其中."""
    text = para.text
    for match in re.finditer(r"其中", text):
        q = match.start()
        level = para.depth_at(q)
        s_index = next(i for i, (s, e) in enumerate(para.sentences) if s <= q < e)
        s_start, s_end = para.sentences[s_index]
        if level:
            # (其中:新增379人): the scope is the bracket, the total the number before it.
            close = q
            while close < len(text) and not (text[close] in CLOSE and para.depth_at(close) == level):
                close += 1
            scope_end = close
            opener = text.rfind("(", 0, q)
            opener = max(opener, text.rfind("（", 0, q))
            candidates = [m for m in para.mentions if m.end <= opener and opener - m.end <= 1]
        else:
            scope_end = s_end
            candidates = [m for m in para.mentions if s_start <= m.start < q and para.depth_at(m.start) == 0]
            if not candidates and not text[s_start:q].strip(" ,，:：") and s_index > 0:
                # 其中 opening a sentence refers back to the previous one.
                p_start, p_end = para.sentences[s_index - 1]
                candidates = [m for m in para.mentions if p_start <= m.start < p_end
                              and para.depth_at(m.start) == 0]
        scope = [m for m in _parts_in(para, q, scope_end, level) if _quantity(m)]
        if len(scope) < 2:
            continue
        unit = scope[0].unit
        totals = [m for m in candidates if _quantity(m) and m.unit == unit]
        if not totals:
            continue
        total = totals[-1]
        parts = [m for m in scope if compatible(total, m)]
        if len(parts) < 2 or _plan_like(parts + [total]):
            continue
        # A nested 其中 inside the scope starts a breakdown of its own.
        nested = text.find("其中", q + 2, scope_end)
        if nested != -1:
            parts = [m for m in parts if m.start < nested]
            if len(parts) < 2:
                continue
        partial = bool(PARTIAL_WORDS.search(text[q:scope_end]))
        yield from _compare_sum(para, total, parts, partial, coverage_floor=QIZHONG_COVERAGE)


def rule_bracket_parts(para: Para) -> Iterator[Result]:
    """13户(10户公购、1户场证、2户难以认定): a breakdown in brackets right after its total."""
    text = para.text
    for total in para.mentions:
        if not _quantity(total) or total.end >= len(text) or text[total.end] not in OPEN:
            continue
        level = para.depth_at(total.end)
        close = total.end + 1
        while close < len(text) and not (text[close] in CLOSE and para.depth_at(close) == level):
            close += 1
        inner = text[total.end + 1:close]
        if inner.lstrip(" :：").startswith(("其中", "含", "包括", "不含")):
            continue  # 其中 is rule_qizhong's; 含… is a note
        parts = [m for m in _parts_in(para, total.end + 1, close, level) if compatible(total, m)]
        if len(parts) < 2 or _plan_like(parts):
            continue
        yield from _compare_sum(para, total, parts, bool(PARTIAL_WORDS.search(inner)))


def rule_trailing_total(para: Para) -> Iterator[Result]:
    """第一剂42345人,第二剂38151人,…,累计完成接种剂次87196剂: a total after its parts."""
    text = para.text
    for s_index in range(len(para.sentences)):
        ms = [m for m in para.in_sentence(s_index) if para.depth_at(m.start) == 0]
        for i, total in enumerate(ms):
            if not _quantity(total) or not TOTAL_WORDS.search(total.before) or i < 2:
                continue
            if "其中" in total.before:
                continue
            parts: list[Mention] = []
            for m in reversed(ms[:i]):
                if not m.unit:
                    continue
                if not compatible(total, m) or TOTAL_WORDS.search(m.before):
                    break
                parts.append(m)
            parts.reverse()
            if len(parts) < 2 or _plan_like(parts + [total]):
                continue
            # Each part must have its own clause and its own label: "A 10家、B 5家".
            chain = parts + [total]
            gaps = [text[a.end:b.start] for a, b in zip(chain, chain[1:], strict=False)]
            if any(not re.search(r"[,，、;；]", gap) for gap in gaps):
                continue
            if any(not m.before.strip() for m in parts):
                continue
            yield from _compare_sum(para, total, parts, False, closed_list=True)


def _split_items(inner: str) -> list[str]:
    return [item for item in re.split(r"[、,，;；]", inner) if item.strip()]


def rule_named_list(para: Para) -> Iterator[Result]:
    """四个(玖悦府、大名城、西江悦、中粮大悦城); 玉兰路、清流路、…、翠菊路六条: names vs count."""
    text = para.text
    for m in para.mentions:
        if m.unit not in CLASSIFIERS or m.approx or m.value < 1 or m.value != int(m.value) or m.value > 50:
            continue
        count = int(m.value)
        items: list[str] | None = None
        partial = False
        span = (m.start, m.end)
        if m.end < len(text) and text[m.end] in OPEN:
            close = m.end + 1
            level = para.depth_at(m.end)
            while close < len(text) and not (text[close] in CLOSE and para.depth_at(close) == level):
                close += 1
            inner = text[m.end + 1:close]
            if (re.search(r"\d", inner) or any(c in CLOSE for c in inner)
                    or inner.lstrip(" :：").startswith(("其中", "含", "包括", "不含", "如", "即", "注"))):
                continue
            if not ("、" in inner or count == 1) or len(inner) > 400:
                continue
            items = _split_items(inner)
            partial = "等" in inner[-3:]
            span = (m.start, close + 1)
        elif m.chinese and m.value <= 20 and m.start > 0 and text[m.start - 1] not in LIST_STOPS:
            before = text[:m.start]
            clause = re.split(r"[,，;；。:：\n“”\"(（)）]", before)[-1]
            clause_start = m.start - len(clause)
            if "、" not in clause or re.search(r"\d", clause) or any(
                    n.unit and clause_start <= n.start < m.start for n in para.mentions):
                continue
            if clause.endswith("等"):
                partial = True
                clause = clause[:-1]
            items = _split_items(clause)
            span = (m.start - len(clause) - (1 if partial else 0), m.end)
        if items is None or len(items) < 2 and not (count == 1 and len(items) == 1):
            continue
        n = len(items)
        if n == count or (partial and n <= count):
            yield Confirmed(Kind.LIST_COUNT, para.index, span[0], span[1], text[span[0]:span[1]],
                            f"{n} = {count}")
            continue
        message = _("写明%(count)s%(unit)s,实际列举了%(n)s%(unit)s。") % {
            "count": m.text, "n": n, "unit": m.unit}
        yield Finding(Kind.LIST_COUNT, Severity.ERROR, para.index, m.start, m.end, m.text, message,
                      f"{'、'.join(i.strip() for i in items)}: {n} ≠ {count}", ((span[0], span[1]),))


def _segment(para: Para, pct: Mention) -> list[Mention]:
    """The quantities that a percentage speaks of: since the previous percentage in its sentence."""
    ms = para.in_sentence(pct.sentence)
    seg: list[Mention] = []
    for m in ms:
        if m.start >= pct.start:
            break
        if m.unit == "%":
            seg = []
            continue
        seg.append(m)
    return [m for m in seg if _quantity(m)]


def _pct_tolerance(pct: Mention) -> Decimal:
    return Decimal("0.5") / (Decimal(10) ** pct.decimals) + Decimal("0.000001")


def _ratio_check(para: Para, pct: Mention, kind: str, expected: Decimal, arithmetic: str,
                 loose: bool, related: tuple, message: str) -> Iterator[Result]:
    stated = pct.value
    tolerance = _pct_tolerance(pct) + (abs(expected) * Decimal("0.1") if loose else 0)
    shown = expected.quantize(Decimal(1).scaleb(-max(pct.decimals, 2)))
    if abs(expected - stated) <= tolerance:
        yield Confirmed(kind, para.index, pct.start, pct.end, pct.text, f"{arithmetic} = {fmt(shown)}%")
    else:
        yield Finding(kind, Severity.WARNING if loose else Severity.ERROR, para.index, pct.start, pct.end,
                      pct.text, message % {"expected": fmt(shown), "stated": pct.text},
                      f"{arithmetic} = {fmt(shown)}% ≠ {pct.text}", related)


def rule_progress(para: Para) -> Iterator[Result]:
    """全年任务数46660万元,1-9月完成35150万元,完成进度75.33%: actual ÷ target."""
    for pct in para.mentions:
        if pct.unit != "%" or not PROGRESS_WORDS.search(pct.before):
            continue
        seg = _segment(para, pct)
        targets = [m for m in seg if TARGET_WORDS.search(m.before)]
        if not targets:
            continue
        target = targets[-1]
        actuals = [m for m in seg if m.start > target.start and m.unit == target.unit
                   and ACTUAL_WORDS.search(m.before)]
        if len(actuals) != 1 or not target.value:
            continue
        actual = actuals[0]
        expected = actual.value / target.value * 100
        yield from _ratio_check(
            para, pct, Kind.PROGRESS, expected, f"{actual.text} ÷ {target.text}",
            actual.is_approx or target.is_approx, ((target.start, target.end), (actual.start, actual.end)),
            _("按所列任务数与完成数,完成进度应为 %(expected)s%%,文中为 %(stated)s。"))


def _year_of(m: Mention) -> str | None:
    found = YEAR_RE.findall(m.before + " " + m.period)
    if not found:
        return None
    year, last, _same, this = found[-1]
    return year or ("prev" if last else "this" if this else None)


def rule_growth(para: Para) -> Iterator[Result]:
    """2021年X万元,2020年Y万元,同比增长Z%: checked only when both years are stated."""
    for pct in para.mentions:
        if pct.unit != "%":
            continue
        word = GROWTH_WORDS.search(pct.before)
        if not word:
            continue
        seg = _segment(para, pct)
        dated = [(m, _year_of(m)) for m in seg]
        dated = [(m, y) for m, y in dated if y]
        if len(dated) != 2 or dated[0][0].unit != dated[1][0].unit or dated[0][1] == dated[1][1]:
            continue
        (a, ya), (b, yb) = dated

        def order(y: str) -> int:
            return {"prev": -1, "this": 10**6}.get(y, int(y) if y.isdigit() else 0)

        prev, cur = (a, b) if order(ya) < order(yb) else (b, a)
        if not prev.value:
            continue
        expected = (cur.value - prev.value) / prev.value * 100
        if word.group(2) in ("下降", "减少"):
            expected = -expected
        yield from _ratio_check(
            para, pct, Kind.GROWTH, expected,
            f"({cur.text} − {prev.text}) ÷ {prev.text}",
            cur.is_approx or prev.is_approx, ((prev.start, prev.end), (cur.start, cur.end)),
            _("按所列两年数据,增幅应为 %(expected)s%%,文中为 %(stated)s。"))


def _claims_all(m: Mention) -> bool:
    return bool(ALL_CLAIM.search(m.after) or ALL_CLAIM.search(m.before[-4:]))


def rule_closure(para: Para) -> Iterator[Result]:
    """受理64起,结案64起; 共计39个问题…已将39个问题全部整改到位; 办结8条,转办15条…."""
    for s_index in range(len(para.sentences)):
        all_ms = para.in_sentence(s_index)
        ms = [m for m in all_ms if _quantity(m)]
        pending: dict[str, Mention] = {}  # unit → the latest received count not yet paired
        for closed in ms:
            label = closed.before[-8:] + closed.after[:10]
            if RECEIVED.search(closed.before):
                pending[closed.unit] = closed
                continue
            if not CLOSED.search(label) or closed.unit not in pending:
                continue
            got = pending.pop(closed.unit)
            # A rate speaks of this pair only when it follows the closed count directly.
            following = [m for m in all_ms if m.start > closed.start]
            pct = following[0] if following and following[0].unit == "%" and RATE_RE.search(
                following[0].before) else None
            arithmetic = f"{fmt(closed.value)} / {fmt(got.value)}"
            related = ((got.start, got.end), (closed.start, closed.end))
            approx = got.is_approx or closed.is_approx
            claims_all = _claims_all(closed) or (pct is not None and pct.value == 100)
            if closed.low > got.high:
                yield Finding(Kind.CLOSURE, Severity.WARNING if approx else Severity.ERROR, para.index,
                              closed.start, closed.end, closed.text,
                              _("办结(整改)数 %(c)s 大于受理(发现)数 %(r)s。") % {
                                  "c": closed.text, "r": got.text},
                              f"{fmt(closed.value)} > {fmt(got.value)}", related)
                continue
            if closed.high < got.low and claims_all:
                yield Finding(Kind.CLOSURE, Severity.WARNING if approx else Severity.ERROR, para.index,
                              closed.start, closed.end, closed.text,
                              _("称已全部办结(整改),但 %(c)s 少于受理(发现)的 %(r)s。") % {
                                  "c": closed.text, "r": got.text},
                              f"{fmt(closed.value)} < {fmt(got.value)}", related)
                continue
            if closed.low <= got.high and closed.high >= got.low:
                yield Confirmed(Kind.CLOSURE, para.index, closed.start, closed.end, closed.text,
                                f"{fmt(closed.value)} = {fmt(got.value)}")
            if pct is not None and not approx and got.value:
                yield from _ratio_check(
                    para, pct, Kind.RATE, closed.value / got.value * 100, arithmetic, False, related,
                    _("按所列数字,比率应为 %(expected)s%%,文中为 %(stated)s。"))
        yield from _outcomes(para, ms)


def _outcomes(para: Para, ms: list[Mention]) -> Iterator[Result]:
    """收到诉求25条…已办结8条,转办15条,无法解决但已解释2条: outcomes never exceed what came in."""
    for i, got in enumerate(ms):
        if not RECEIVED.search(got.before):
            continue
        outs = [m for m in ms[i + 1:] if m.unit == got.unit and OUTCOMES.search(m.before)]
        if len(outs) < 2:
            continue
        total = sum((m.value for m in outs), Decimal(0))
        low = sum((m.low for m in outs), Decimal(0))
        shown = "+".join(fmt(m.value) for m in outs)
        if low > got.high:
            yield Finding(Kind.CLOSURE, Severity.WARNING if got.is_approx else Severity.ERROR, para.index,
                          got.start, got.end, got.text,
                          _("办理结果之和 %(sum)s 大于受理数 %(r)s。") % {"sum": fmt(total), "r": got.text},
                          f"{shown} = {fmt(total)} > {fmt(got.value)}",
                          tuple((m.start, m.end) for m in outs))
        elif total == got.value:
            yield Confirmed(Kind.CLOSURE, para.index, got.start, got.end, got.text,
                            f"{shown} = {fmt(total)}")


RULES = [rule_qizhong, rule_bracket_parts, rule_trailing_total, rule_named_list, rule_progress,
         rule_growth, rule_closure]


def count_of(text: str) -> int | None:
    """Helper for tests and callers: 四 → 4, 12 → 12."""
    return int(text) if text.isdigit() else parse_chinese(text)

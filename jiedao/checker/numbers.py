"""Reading the numbers of a work summary: numerals, units, approximations, periods, and the
words around each number that say what it counts.

Pure Python, no database: the rules in :mod:`jiedao.checker.rules` work on the
:class:`Mention` objects produced here.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

INF = Decimal("Infinity")

CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6,
             "七": 7, "八": 8, "九": 9}
CN_SMALL = {"十": 10, "百": 100, "千": 1000}
CN_BIG = {"万": 10**4, "亿": 10**8}
CN_CHARS = "".join(CN_DIGITS) + "".join(CN_SMALL) + "".join(CN_BIG)

# Units, longest first so that 人次 wins over 人 and 万元 over 元. A multiplier written
# before the unit (3.493亿元, 5.8万㎡) is read as part of the number.
UNITS = [
    "万美元", "平方米", "美元", "人次", "个次", "剂次", "户次", "车次", "元", "㎡", "%", "％",
    "家", "户", "人", "个", "处", "起", "条", "份", "场", "次", "车", "辆", "栋", "幢", "件",
    "项", "名", "位", "张", "台", "部", "副", "根", "类", "所", "座", "批", "例", "剂", "宗",
    "方", "支", "只", "套", "间", "块", "篇", "期", "轮", "批次", "天",
]
UNITS.sort(key=len, reverse=True)
# Words that follow a number but make it a date, an ordinal or an age, not a quantity.
NOT_QUANTITY_AFTER = ("年", "月", "日", "号", "岁", "时", "点", "周年", "届", "分", "秒", "楼", "层", "路")
# Units a list of names may be counted in (四个(…), 六条…道路).
CLASSIFIERS = set("个条家栋幢类项所座方处支名位部只套间块批")

# A unit character that begins a word is no unit: 4050人员, 3家庭, 个人.
UNIT_WORDS = {"人员", "人口", "人民", "人大", "人社", "人才", "家庭", "家属", "家园", "家政", "户籍", "户口",
              "户外", "个人", "个体", "个别", "处理", "处置", "处罚", "处室", "条件", "条例", "场所", "场地",
              "次数", "名单", "名称", "位置", "项目", "部门", "部署", "台账", "份额", "类型", "所有", "座谈",
              "批准", "期间", "车辆", "车位", "辆车", "张贴", "件事", "起到", "支部", "支持", "方案", "方式",
              "方法", "方向", "只有", "套餐", "块地", "间隔", "例如", "天然", "剂量"}

APPROX_BEFORE = ("约", "近", "大约", "将近", "接近")
APPROX_AFTER = ("余", "多")
APPROX_UNIT_AFTER = ("以上", "左右", "余")

# Words that introduce the period a figure covers.
PERIOD_RE = re.compile(
    r"(?P<months>\d{1,2}\s*[-—–~～至到]\s*\d{1,2}\s*月(?:份)?(?:底)?)"
    r"|(?P<named>全年|截至目前|截止目前|截止至目前|截至目前为止|今年以来|上半年|下半年|年初以来|"
    r"\d{4}年(?:度)?|去年同期|上年同期|同期)"
)

_NUM = rf"(?P<num>\d+(?:,\d{{3}})+(?:\.\d+)?|\d+(?:\.\d+)?|[{CN_CHARS}]+)"
_UNIT = "|".join(re.escape(u) for u in UNITS)
MENTION_RE = re.compile(
    rf"(?P<pre>约|近|大约|将近|接近)?{_NUM}(?P<mult>[万亿](?![{CN_CHARS}]))?(?P<app>余|多)?"
    rf"(?P<unit>{_UNIT})?(?P<post>以上|左右|余)?"
)


def parse_chinese(text: str) -> int | None:
    """一千六百三十一 → 1631, 两万三千 → 23000, 十二 → 12. None when it is not a numeral."""
    if not text or any(ch not in CN_CHARS for ch in text):
        return None
    total = section = number = 0
    seen_digit = False
    for ch in text:
        if ch in CN_DIGITS:
            number = CN_DIGITS[ch]
            seen_digit = True
        elif ch in CN_SMALL:
            section += (number or 1) * CN_SMALL[ch]
            number = 0
            seen_digit = True
        else:
            if not seen_digit:
                return None
            section += number
            number = 0
            if CN_BIG[ch] == 10**8:
                total = (total + section) * 10**8
            else:
                total += section * 10**4
            section = 0
    return total + section + number


def parse_number(text: str) -> Decimal | None:
    """Arabic (with thousands separators) or Chinese numerals, with a 万/亿 suffix."""
    text = text.strip()
    mult = 1
    if len(text) > 1 and text[-1] in CN_BIG and text[:-1] and text[-2].isdigit():
        mult = CN_BIG[text[-1]]
        text = text[:-1]
    if text and text[0].isdigit():
        try:
            return Decimal(text.replace(",", "")) * mult
        except InvalidOperation:
            return None
    value = parse_chinese(text)
    return None if value is None else Decimal(value) * mult


@dataclass(frozen=True)
class Mention:
    """One number in a paragraph, with what is known about it."""

    start: int  # character offsets in the paragraph, covering approximation words and unit
    end: int
    num_start: int  # offsets of the numeral itself
    num_end: int
    text: str
    value: Decimal  # the number with its 万/亿 applied (3.493亿元 → 349300000, unit 元)
    unit: str  # normalised: 万元/亿元 → 元, ％ → %, 平方米 → ㎡
    approx: str  # "" or 约/近/余/多/以上/左右
    chinese: bool  # written in Chinese numerals (四个)
    decimals: int  # decimals as written (75.33% → 2)
    step: Decimal  # the last written digit's weight (400 → 100 for 400余; 3.493亿 → 100000)
    before: str  # the words between the previous clause boundary and the number
    after: str  # the words after the unit up to the next clause boundary
    period: str  # 1-9月, 全年, 截至目前 … nearest before the number in its sentence
    sentence: int  # index of the sentence within the paragraph
    scale: Decimal = Decimal(1)  # the 万/亿 the number was written with (3.493亿元 → 10^8)

    @property
    def written(self) -> str:
        """The number as written, without its unit: 3.493亿, 400余, 四."""
        word = {Decimal(10**4): "万", Decimal(10**8): "亿"}.get(self.scale, "")
        return fmt(self.value / self.scale) + word + ("余" if self.approx in ("余", "多") else "")

    def in_scale(self, value: Decimal) -> str:
        """``value`` written in this mention's scale: 83967, 8.5亿."""
        word = {Decimal(10**4): "万", Decimal(10**8): "亿"}.get(self.scale, "")
        return fmt(value / self.scale) + word

    @property
    def low(self) -> Decimal:
        if self.approx in ("约", "左右"):
            return self.value * Decimal("0.9")
        if self.approx in ("近",):
            return self.value * Decimal("0.9")
        return self.value

    @property
    def high(self) -> Decimal:
        if self.approx in ("余", "多"):
            return self.value + self.step
        if self.approx in ("约", "左右"):
            return self.value * Decimal("1.1")
        if self.approx == "以上":
            return INF
        return self.value

    @property
    def is_approx(self) -> bool:
        return bool(self.approx)

    @property
    def counts(self) -> str:
        """What the number counts, from the words around it (房地产8家 → 房地产)."""
        head = self.after.strip()
        if head and len(head) <= 12:
            return head
        tail = re.split(r"[,，、:：(（]", self.before)[-1]
        tail = _GENERIC_HEAD.sub("", tail[-12:])
        return tail[-8:]


# Words before a number that say nothing about what it counts (辖区共有楼宇 → 楼宇).
_GENERIC_HEAD = re.compile(
    r"^(?:目前|截至目前|辖区内?|全街|街道|共有|共计|合计|总计|累计|完成|包括|现有|全年|已经?|共|达)+")

UNIT_ALIASES = {"万元": "元", "亿元": "元", "万美元": "美元", "％": "%", "平方米": "㎡", "幢": "栋"}

# Clause and sentence boundaries.
SENTENCE_END = "。!?！？;；\n"
CLAUSE_END = SENTENCE_END + ",，:：、"


_SENTENCE_RE = re.compile("[" + re.escape(SENTENCE_END) + "]")


def sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence; a sentence ends after 。!?; or a line break."""
    spans = []
    start = 0
    for match in _SENTENCE_RE.finditer(text):
        spans.append((start, match.end()))
        start = match.end()
    if start < len(text):
        spans.append((start, len(text)))
    return spans


def _weight(digits: str, mult: int) -> Decimal:
    """The weight of the last significant written digit: 400 → 100, 3.493 (亿) → 10^5."""
    if "." in digits:
        decimals = len(digits.split(".")[1])
        return Decimal(mult) / (Decimal(10) ** decimals)
    plain = digits.replace(",", "")
    if plain and plain.isdigit():
        zeros = len(plain) - len(plain.rstrip("0")) if plain.strip("0") else 0
        return Decimal(10) ** zeros * mult
    value = parse_chinese(plain) or 1
    zeros = len(str(value)) - len(str(value).rstrip("0"))
    return Decimal(10) ** zeros * mult


_BOUNDARY_RE = re.compile("[" + re.escape(CLAUSE_END) + "(（)）]")


def _clause_start(bounds: list[int], pos: int, floor: int) -> int:
    """Just after the last clause boundary before ``pos`` (not before ``floor``)."""
    i = bisect_left(bounds, pos)
    return max(floor, bounds[i - 1] + 1) if i else floor


def _clause_end(bounds: list[int], pos: int, ceiling: int) -> int:
    i = bisect_left(bounds, pos)
    return min(ceiling, bounds[i]) if i < len(bounds) else ceiling


def mentions(text: str) -> list[Mention]:
    """Every quantity in ``text`` (one paragraph), in order."""
    found: list[Mention] = []
    spans = sentences(text)
    periods = [(m.start(), m.group(0)) for m in PERIOD_RE.finditer(text)]
    period_starts = [p for p, _t in periods]
    bounds = [m.start() for m in _BOUNDARY_RE.finditer(text)]
    sent_index = 0
    for match in MENTION_RE.finditer(text):
        num = match.group("num")
        start, end = match.start(), match.end()
        num_start, num_end = match.start("num"), match.end("num")
        chinese = not num[0].isdigit()
        unit = match.group("unit") or ""
        after_text = text[end:end + 3]
        prev = text[num_start - 1] if num_start else ""
        # Not quantities: ordinals (第三), parts of codes (CY203-B07), dates (4月6日), years.
        if prev == "第" or (prev and (prev.isascii() and (prev.isalnum() or prev in "-_/."))):
            continue
        nxt = text[num_end] if num_end < len(text) else ""
        if nxt and nxt.isascii() and (nxt.isalpha() or nxt in "-_/"):
            continue
        if not unit and after_text.startswith(NOT_QUANTITY_AFTER):
            continue
        if match.group("mult") is None and text.startswith(NOT_QUANTITY_AFTER, num_end):
            continue
        if chinese:
            # Chinese numerals count only with a unit, and not inside words (一是, 三化, 万余).
            if not unit or len(num) == 1 and num in CN_BIG:
                continue
            if num[0] in CN_BIG or num[0] in "百千":
                continue
            # 一人一档, 一办两支部, 三纵三横: a numeral glued to the previous word's numeral.
            if prev and prev in CN_CHARS:
                continue
            if num == "一" and text[end:end + 1] == "一":  # 一人一档, 一户一策
                continue
        digits = num
        mult = CN_BIG[match.group("mult")] if match.group("mult") else 1
        if chinese:
            value = parse_chinese(num)
            if value is None:
                continue
            number = Decimal(value)
        else:
            number = Decimal(num.replace(",", ""))
        u_start = match.start("unit")
        if unit and text[u_start:u_start + 2] in UNIT_WORDS:
            unit = ""
            end = u_start
        raw_unit = unit
        if raw_unit in ("万元", "万美元"):
            mult *= 10**4
        elif raw_unit == "亿元":
            mult *= 10**8
        unit = UNIT_ALIASES.get(raw_unit, raw_unit)
        if match.group("pre") and not unit and not match.group("mult"):
            # 约 before a bare number without a unit is too vague to use.
            pass
        approx = match.group("pre") or match.group("app") or match.group("post") or ""
        # 约9000余: both; the wider reading (余) is kept.
        if match.group("pre") and (match.group("app") or match.group("post")):
            approx = match.group("app") or match.group("post")
        while sent_index < len(spans) - 1 and spans[sent_index][1] <= start:
            sent_index += 1
        s_start, s_end = spans[sent_index]
        before = text[_clause_start(bounds, start, s_start):start]
        after = text[end:_clause_end(bounds, end, s_end)]
        period = ""
        k = bisect_left(period_starts, start)
        if k and period_starts[k - 1] >= s_start:
            period = periods[k - 1][1]
        decimals = len(num.split(".")[1]) if "." in num and not chinese else 0
        found.append(Mention(
            start=start, end=end, num_start=num_start, num_end=num_end, text=text[start:end],
            value=number * mult, unit=unit, approx=approx, chinese=chinese, decimals=decimals,
            step=_weight(digits, mult), before=before, after=after, period=period,
            sentence=sent_index, scale=Decimal(mult),
        ))
    return found


def fmt(value: Decimal) -> str:
    """A number as a reader writes it: 83967, 3.001, no exponent, no trailing zeros."""
    if value == INF:
        return "∞"
    text = format(value.normalize(), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text

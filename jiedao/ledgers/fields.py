"""Turning what people type (on a form or in an Excel cell) into clean values, one rule each.

Forms, services and the importer share these functions, so a value refused on the page is
refused in a file too, with the same Chinese reason. Each parser takes the raw value (str,
int, float, bool, date/datetime or None) and returns the clean value or raises
``ValueError(reason)``; ``clean_*`` wrappers raise Django's ``ValidationError`` for forms.
"""

from __future__ import annotations

import datetime as dt
import re
import time
import unicodedata
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from stdnum import exceptions as stdnum_errors
from stdnum.cn import ric, uscc

from jiedao.core.identifiers import MOBILE_RE

# GB/T 2260 province-level codes (the rule standards.md names). stdnum's own ``ric.validate``
# also requires the county code to have existed in the birth year, which refuses real numbers
# of people born before their county's current code (西湖区 360103 dates from 1983), so only
# its checksum and birth-date helpers are used.
PROVINCES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65 "
    "71 81 82 83".split()
)

_SPACES = re.compile(r"[\s\u3000\u200b\ufeff]+")


def normalize_text(value: Any) -> str:
    """Trim stray spaces (also full-width and zero-width ones) and collapse runs inside."""
    if type(value) is str:
        # Fast path: printable text (no tabs, newlines, full-width or zero-width spaces — those
        # are not "printable") without leading, trailing or doubled spaces is already clean.
        if value.isprintable() and value[:1] != " " and value[-1:] != " " and "  " not in value:
            return value
    elif value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return _SPACES.sub(" ", str(value)).strip()


def halfwidth(value: str) -> str:
    """Full-width digits and letters (１２３ＡＢＣ) become ASCII; NFKC does exactly that."""
    return unicodedata.normalize("NFKC", value)


def compact(value: Any) -> str:
    """For codes: half-width, no spaces or dashes at all, upper case."""
    return re.sub(r"[\s\-\u3000\u200b\ufeff]", "", halfwidth(normalize_text(value))).upper()


def code_text(value: Any) -> str:
    """For plot and household numbers: half-width, no spaces, upper case; dashes kept (CY203-B07)."""
    return re.sub(r"[\s\u3000\u200b\ufeff]", "", halfwidth(normalize_text(value))).upper()


# --- identifiers ------------------------------------------------------------------------------

_ID_SHAPE = re.compile(r"\d{17}[\dX]")
_SCIENTIFIC = re.compile(r"\d\.\d+E\+\d+")
_TODAY: list = [0.0, 0.0, 0, ""]  # local day's [start, end) in epoch seconds, time.timezone, YYYYMMDD


def _today_text() -> str:
    """Today's date as YYYYMMDD, as ``date.today()`` gives it, recomputed when the day changes.

    ``date.today()`` costs microseconds (a local-time conversion); an import checks 100,000
    ID numbers against it.
    """
    now = time.time()
    start, end, zone, text = _TODAY
    if start <= now < end and zone == time.timezone:
        return text
    today = dt.date.today()
    start = time.mktime(today.timetuple())
    end = time.mktime((today + dt.timedelta(days=1)).timetuple())
    _TODAY[:] = [start, end, time.timezone, today.strftime("%Y%m%d")]
    return _TODAY[3]


def parse_id_number(value: Any) -> str:
    """A GB 11643 citizen ID number, normalised (lower-case x accepted).

    A number (the cell was numeric) has lost its last digits in Excel: refused, never guessed.
    """
    if isinstance(value, bool):
        raise ValueError(_("身份号码格式不对"))
    if isinstance(value, (int, float)):
        raise ValueError(
            _("身份号码被 Excel 存成了数字,末几位已丢失(精度不足 18 位);请把该列设为“文本”格式后重新录入")
        )
    # The common case (18 clean characters) skips the normalisation and the shape checks.
    if isinstance(value, str) and _ID_SHAPE.fullmatch(value):
        text = value
    else:
        text = compact(value)
        if not text:
            raise ValueError(_("身份号码不能为空"))
        if _SCIENTIFIC.fullmatch(text):
            raise ValueError(
                _("身份号码是科学计数法“%(v)s”,末几位已丢失;请把该列设为“文本”格式后重新录入") % {"v": text}
            )
        if len(text) != 18:
            raise ValueError(_("身份号码应为 18 位,收到 %(n)s 位") % {"n": len(text)})
        if not _ID_SHAPE.fullmatch(text):
            raise ValueError(_("身份号码格式不对(应为 17 位数字加 1 位数字或 X)"))
    if text[:2] not in PROVINCES:
        raise ValueError(_("身份号码前两位“%(p)s”不是省级行政区划代码") % {"p": text[:2]})
    try:
        dt.date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError:
        raise ValueError(_("身份号码中的出生日期“%(d)s”不存在") % {"d": text[6:14]}) from None
    # Eight zero-padded digits of a real date compare as the dates do.
    if text[6:10] < "1880" or text[6:14] > _today_text():
        raise ValueError(_("身份号码中的出生日期“%(d)s”不合理") % {"d": text[6:14]})
    if ric.calc_check_digit(text) != text[17]:
        raise ValueError(_("身份号码校验位不对(GB 11643),请核对"))
    return text


def id_birth_gender(id_number: str) -> tuple[dt.date, str]:
    """Birth date and gender ("male"/"female") encoded in a valid ID number."""
    birth = dt.date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
    gender = "male" if int(id_number[16]) % 2 else "female"
    return birth, gender


_MOBILE_NOISE = re.compile(r"[\s\-()()]")


def parse_mobile(value: Any, *, required: bool = False) -> str:
    if value.__class__ is str and len(value) == 11 and value.isascii() and value.isdigit():
        if value[0] == "1" and value[1] in "3456789":  # already the 11 digits MOBILE_RE keeps
            return value
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = _MOBILE_NOISE.sub("", halfwidth(normalize_text(value)))
    if not text:
        if required:
            raise ValueError(_("手机号不能为空"))
        return ""
    match = MOBILE_RE.match(text)
    if not match:
        raise ValueError(_("手机号须为 11 位、以 13–19 开头(可带 +86),收到“%(v)s”") % {"v": text})
    return match.group(1)


def credit_code_problem(code: str) -> str:
    """Why ``code`` fails GB 32100 (empty string when it passes)."""
    try:
        uscc.validate(code)
    except stdnum_errors.InvalidLength:
        return _("统一社会信用代码应为 18 位,收到 %(n)s 位") % {"n": len(code)}
    except stdnum_errors.InvalidChecksum:
        return _("统一社会信用代码校验位不对(GB 32100)")
    except stdnum_errors.ValidationError:
        return _("统一社会信用代码含无效字符(不能含 I、O、Z、S、V)")
    return ""


def parse_credit_code(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise ValueError(_("统一社会信用代码被 Excel 存成了数字;请把该列设为“文本”格式后重新录入"))
    text = compact(value)
    if not text:
        raise ValueError(_("统一社会信用代码不能为空"))
    return text


# --- values -------------------------------------------------------------------------------------

_DATE_FORMATS = (
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%Y.%m.%d",
    "%Y%m%d",
    "%Y年%m月%d日",
    "%Y-%m-%d %H:%M:%S",
    "%Y/%m/%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
)
_MONTH_FORMATS = ("%Y-%m", "%Y/%m", "%Y.%m", "%Y年%m月", "%Y%m")


def parse_date(value: Any) -> dt.date | None:
    """A date from a date cell, an Excel serial number, or text such as 2021-10-08 / 2021年10月8日."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, bool):
        raise ValueError(_("日期格式不对"))
    if isinstance(value, (int, float)):
        if 1 <= value < 2958466:  # Excel's serial range (1900 date system)
            from openpyxl.utils.datetime import from_excel

            return (
                from_excel(value).date() if isinstance(from_excel(value), dt.datetime) else from_excel(value)
            )
        raise ValueError(_("日期数值“%(v)s”超出范围") % {"v": value})
    text = halfwidth(normalize_text(value))
    if re.fullmatch(r"\d{5}(\.\d+)?", text):  # a serial number stored as text
        return parse_date(float(text))
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(_("日期“%(v)s”无法识别,请写成 2021-10-08 或 2021年10月8日") % {"v": text})


def parse_month(value: Any) -> dt.date | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        day = parse_date(value)
        return day.replace(day=1) if day else None
    text = halfwidth(normalize_text(value))
    for fmt in _MONTH_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    day = parse_date(text)
    return day.replace(day=1) if day else None


def parse_decimal(
    value: Any, *, places: int = 2, max_digits: int = 14, minimum: Decimal | None = Decimal(0)
) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(_("应为数字"))
    if isinstance(value, float):
        text = repr(value)
    else:
        text = halfwidth(normalize_text(value)).replace(",", "").replace(" ", "")
    if not text:
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError(_("“%(v)s”不是数字") % {"v": text}) from None
    if not number.is_finite():
        raise ValueError(_("“%(v)s”不是数字") % {"v": text})
    number = number.quantize(Decimal(1).scaleb(-places))
    if minimum is not None and number < minimum:
        raise ValueError(_("不能小于 %(m)s") % {"m": minimum})
    if len(number.as_tuple().digits) > max_digits:
        raise ValueError(_("数值过大"))
    return number


def parse_int(value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        text = halfwidth(normalize_text(value))
        if not re.fullmatch(r"-?\d+", text):
            raise ValueError(_("“%(v)s”不是整数") % {"v": text})
        number = int(text)
    if minimum is not None and number < minimum or maximum is not None and number > maximum:
        raise ValueError(_("应在 %(a)s 到 %(b)s 之间") % {"a": minimum, "b": maximum})
    return number


_TRUE = {"是", "y", "yes", "true", "1", "√", "✓", "有", "对"}
_FALSE = {"否", "n", "no", "false", "0", "×", "✗", "无", "不是", ""}


def parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        value = str(int(value))
    text = halfwidth(normalize_text(value)).lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(_("应填“是”或“否”,收到“%(v)s”") % {"v": text})


def choice_map(choices) -> dict[str, str]:
    """Label (in the active language) and code → code."""
    out = {}
    for code, label in choices:
        out[code] = code
        out[str(label)] = code
    return out


def parse_choice(value: Any, choices, mapping: dict[str, str] | None = None) -> str:
    """A TextChoices value from its Chinese label (or its code)."""
    text = halfwidth(normalize_text(value))
    code = (mapping if mapping is not None else choice_map(choices)).get(text)
    if code is not None:
        return code
    labels = list(dict.fromkeys(k for k, v in (mapping or choice_map(choices)).items() if k != v))
    raise ValueError(_("“%(v)s”不在可选值中(可选:%(c)s)") % {"v": text, "c": "、".join(labels)})


_SPLIT = re.compile(r"[、,,;;/|\s]+")


def parse_multi_choice(value: Any, choices, mapping: dict[str, str] | None = None) -> list[str]:
    text = normalize_text(value)
    if not text:
        return []
    if mapping is None:
        mapping = choice_map(choices)
    out: list[str] = []
    for part in _SPLIT.split(text):
        if part:
            code = parse_choice(part, choices, mapping)
            if code not in out:
                out.append(code)
    return out


# --- form helpers ---------------------------------------------------------------------------------


def as_validation_error(func, value, field: str | None = None, **kwargs):
    """Run a parser; turn its ValueError into a ValidationError (on ``field`` when given)."""
    try:
        return func(value, **kwargs)
    except ValueError as error:
        if field:
            raise ValidationError({field: str(error)}) from None
        raise ValidationError(str(error)) from None

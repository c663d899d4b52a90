"""Masking personal data on screen (standards.md: 张*, 138****8000, 110105********002X).

A birth date shows its year only (1985-**-**): the eight digits an ID number's mask hides are
the birth date, so a full date next to a masked ID number would give the whole number back.

Masking is the default everywhere a person is listed; showing the full value is a separate,
permission-gated and audited action. These helpers never raise: an odd value is masked too,
so a bad row cannot leak the original through an exception page.
"""

import re
from collections.abc import Iterable

MASK = "*"


def mask_name(name: str | None) -> str:
    """Keep the family name's first character: 张三 → 张*, 欧阳娜娜 → 欧***."""
    name = (name or "").strip()
    if not name:
        return ""
    if name.startswith("匿名"):  # no name given (匿名, 匿名市民): nothing to hide, and 匿*** reads oddly
        return name
    return name[0] + MASK * max(len(name) - 1, 1)


def mask_phone(phone: str | None) -> str:
    """A mobile number keeps its first 3 and last 4 digits: 13800138000 → 138****8000."""
    phone = (phone or "").strip()
    if not phone:
        return ""
    if len(phone) >= 11:
        return phone[:3] + MASK * (len(phone) - 7) + phone[-4:]
    if len(phone) > 4:  # landlines and short numbers: keep only the last 4
        return MASK * (len(phone) - 4) + phone[-4:]
    return MASK * len(phone)


def mask_id(id_number: str | None) -> str:
    """An ID number keeps its region (6) and last 4: 110105********002X."""
    id_number = (id_number or "").strip()
    if not id_number:
        return ""
    if len(id_number) > 10:
        return id_number[:6] + MASK * (len(id_number) - 10) + id_number[-4:]
    return MASK * len(id_number)


def mask_birth_date(value) -> str:
    """A date (or its ISO text) keeps its year: 1985-03-12 → 1985-**-**."""
    text = str(value or "").strip()
    if not text:
        return ""
    year = text[:4]
    return f"{year}-**-**" if len(text) >= 10 and year.isdigit() else MASK * len(text)


# Personal data written into free text (a staff member's note shown to a resident): a mobile
# number with or without +86 and separators, a landline with its area code, an ID number, any
# other run of seven digits or more, an e-mail address.
_MOBILE = re.compile(r"(?<![\d+])(?:(?:\+|00)?86[\s-]?)?(1[3-9]\d)[\s-]?(\d{4})[\s-]?(\d{4})(?!\d)")
_LANDLINE = re.compile(r"(?<!\d)(0\d{2,3})[\s-](\d{3,4})[\s-]?(\d{4})(?!\d)")
_ID = re.compile(r"(?<!\d)(\d{6})\d{8}(\d{3}[\dXx])(?![\dXx])")
_DIGITS = re.compile(r"(?<!\d)\d{3,}(\d{4})(?!\d)")
# ASCII only: "邮箱li@jd.gov.cn" keeps 邮箱 (\w would take the Chinese before the address too)
_EMAIL = re.compile(r"([A-Za-z0-9_.+-])[A-Za-z0-9_.+-]*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")


def mask_text(text: str | None, names: Iterable[str] = ()) -> str:
    """``text`` with the phone numbers, ID numbers, other runs of seven digits or more and
    e-mail addresses in it masked as the fields are (138****8000, 0791-****1234,
    110105********002X, z***@example.com), and each of ``names`` (people the text may name)
    masked as a name: 李敏 → 李*."""
    text = text or ""
    text = _ID.sub(lambda m: m.group(1) + MASK * 8 + m.group(2), text)
    text = _MOBILE.sub(lambda m: f"{m.group(1)}{MASK * 4}{m.group(3)}", text)
    text = _LANDLINE.sub(lambda m: f"{m.group(1)}-{MASK * 4}{m.group(3)}", text)
    text = _DIGITS.sub(lambda m: MASK * (len(m.group(0)) - 4) + m.group(1) if len(m.group(0)) >= 7
                       else m.group(0), text)
    text = _EMAIL.sub(lambda m: f"{m.group(1)}{MASK * 3}@{m.group(2)}", text)
    for name in sorted({n.strip() for n in names if len((n or "").strip()) >= 2}, key=len, reverse=True):
        text = text.replace(name, mask_name(name))
    return text

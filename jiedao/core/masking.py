"""Masking personal data on screen (standards.md: 张*, 138****8000, 110105********002X).

A birth date shows its year only (1985-**-**): the eight digits an ID number's mask hides are
the birth date, so a full date next to a masked ID number would give the whole number back.

Masking is the default everywhere a person is listed; showing the full value is a separate,
permission-gated and audited action. These helpers never raise: an odd value is masked too,
so a bad row cannot leak the original through an exception page.
"""

MASK = "*"


def mask_name(name: str | None) -> str:
    """Keep the family name's first character: 张三 → 张*, 欧阳娜娜 → 欧***."""
    name = (name or "").strip()
    if not name:
        return ""
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

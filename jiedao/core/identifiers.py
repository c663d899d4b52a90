"""Identifiers shared by every ledger: here the mobile number (standards.md).

``^(?:\\+?86)?1[3-9]\\d{9}$``, stored as the 11 digits; carrier ranges are not hard-coded.
"""

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

MOBILE_RE = re.compile(r"^(?:\+?86)?(1[3-9]\d{9})$")


def normalize_mobile(value: str) -> str:
    """The 11 digits of a mobile number given with or without +86, spaces or dashes."""
    compact = re.sub(r"[\s-]", "", value or "")
    match = MOBILE_RE.match(compact)
    return match.group(1) if match else compact


def validate_mobile(value: str) -> None:
    if value and not MOBILE_RE.match(value):
        raise ValidationError(
            _("手机号须为 11 位、以 13–19 开头(可带 +86),收到“%(v)s”") % {"v": value},
            code="mobile",
        )

"""GB/T 2260 region codes, checked by format.

The codes themselves change every year, so they are dated reference data kept in the org
table, not a list baked in here; what is fixed is their shape: 6 digits for a county-level
district, 9 for a township (街道 001–099), 12 for a community (居委会 001–199). A grid has no
national code: locally it is the community code plus three digits.
"""

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

LENGTHS = {"district": 6, "street": 9, "community": 12, "grid": 15}


def validate_region_code(kind: str, code: str, parent_code: str = "") -> None:
    """Raise ValidationError naming the field and the rule when ``code`` does not fit."""
    if kind == "department":
        if code:
            raise ValidationError({"code": _("科室不使用区划代码,请留空")})
        return
    length = LENGTHS[kind]
    if not re.fullmatch(rf"\d{{{length}}}", code or ""):
        raise ValidationError(
            {"code": _("区划代码必须是 %(n)d 位数字(GB/T 2260),收到“%(code)s”")
             % {"n": length, "code": code}}
        )
    if kind == "district" and (code[:2] == "00" or code[2:] == "0000"):
        raise ValidationError({"code": _("区县级代码的省、县两段都不能为 0")})
    if parent_code and not code.startswith(parent_code):
        raise ValidationError(
            {"code": _("区划代码 %(code)s 应以上级代码 %(parent)s 开头")
             % {"code": code, "parent": parent_code}}
        )
    if kind == "street" and not 1 <= int(code[6:9]) <= 99:
        raise ValidationError({"code": _("街道代码第 7–9 位应在 001–099 之间")})
    if kind == "community" and not 1 <= int(code[9:12]) <= 199:
        raise ValidationError({"code": _("社区(居委会)代码第 10–12 位应在 001–199 之间")})
    if kind == "grid" and int(code[12:15]) == 0:
        raise ValidationError({"code": _("网格代码第 13–15 位不能为 000")})

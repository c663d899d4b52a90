"""Demo records of this app for `jiedao demo` (deterministic, idempotent): a small default
lexicon for 朝农街道 (kept by its system administrator), including the filter notice the
seed summary published."""

from .models import SensitiveWord, WordCategory
from .services import word_add

DEFAULT_WORDS = [
    ("敏感词,请谨慎使用", WordCategory.FILTER_NOTICE, "过滤器替换原词后留下的提示"),
    ("敏感词，请谨慎使用", WordCategory.FILTER_NOTICE, "过滤器替换原词后留下的提示"),
    ("请谨慎使用", WordCategory.FILTER_NOTICE, ""),
    ("(检查)", WordCategory.EDIT_MARK, "审稿时留下的标记"),
    ("（检查）", WordCategory.EDIT_MARK, "审稿时留下的标记"),
    ("(待核实)", WordCategory.EDIT_MARK, ""),
    ("内部资料", WordCategory.SENSITIVE, "对外发布的总结不应含内部资料字样"),
    ("机密", WordCategory.SENSITIVE, "涉密标识不得出现在公开文本"),
    ("绝密", WordCategory.SENSITIVE, "涉密标识不得出现在公开文本"),
    ("维稳对象", WordCategory.SENSITIVE, "对外表述宜用“重点关注人员”"),
    ("上访户", WordCategory.SENSITIVE, "对外表述宜用“信访群众”"),
]


def load(by, units) -> list[str]:
    """Load the demo records; return lines for the command to print."""
    street = units.get("360103012")
    if street is None:
        return []
    added = 0
    for word, category, note in DEFAULT_WORDS:
        if not SensitiveWord.objects.filter(org_unit=street, word=word).exists():
            word_add(by=by, unit=street, word=word, category=category, note=note)
            added += 1
    return [f"敏感词库:新增 {added} 个词({street.name})。"]

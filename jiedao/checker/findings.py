"""What the checker reports: findings (something to look at) and confirmations (arithmetic
that was recognised and holds — shown so a reader sees what was checked, and so tests can
tell "checked and right" from "not noticed")."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from django.utils.translation import gettext_lazy as _


class Kind:
    SUM = "sum_mismatch"
    LIST_COUNT = "list_count_mismatch"
    PROGRESS = "progress_mismatch"
    GROWTH = "growth_mismatch"
    CLOSURE = "closure_mismatch"
    RATE = "rate_mismatch"
    FIGURE = "figure_mismatch"
    SENSITIVE = "sensitive_word"
    FILTER_NOTICE = "filter_notice"
    EDIT_MARK = "editing_mark"


KIND_LABELS = {
    Kind.SUM: _("分项与合计不符"),
    Kind.LIST_COUNT: _("列举数目不符"),
    Kind.PROGRESS: _("完成进度不符"),
    Kind.GROWTH: _("增幅不符"),
    Kind.CLOSURE: _("受理与办结不符"),
    Kind.RATE: _("比率不符"),
    Kind.FIGURE: _("与系统数据不符"),
    Kind.SENSITIVE: _("敏感词"),
    Kind.FILTER_NOTICE: _("过滤提示残留"),
    Kind.EDIT_MARK: _("编辑标记残留"),
}


class Severity:
    ERROR = "error"  # a contradiction in the text itself
    WARNING = "warning"  # worth a look: approximate figures apart, a list that may be partial, a word
    INFO = "info"


SEVERITY_LABELS = {Severity.ERROR: _("错误"), Severity.WARNING: _("提示"), Severity.INFO: _("信息")}
SEVERITY_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


@dataclass(frozen=True)
class Finding:
    kind: str
    severity: str
    paragraph: int  # 0-based index into the document's paragraphs
    start: int  # character offsets within that paragraph: text[start:end] == quote
    end: int
    quote: str
    message: str
    arithmetic: str = ""
    related: tuple[tuple[int, int], ...] = field(default=())  # spans of the parts involved

    @property
    def kind_label(self) -> str:
        return str(KIND_LABELS.get(self.kind, self.kind))

    @property
    def severity_label(self) -> str:
        return str(SEVERITY_LABELS.get(self.severity, self.severity))

    def as_dict(self) -> dict:
        data = asdict(self)
        data["related"] = [list(span) for span in self.related]
        data["kind_label"] = self.kind_label
        data["severity_label"] = self.severity_label
        data["message"] = str(self.message)
        return data


@dataclass(frozen=True)
class Confirmed:
    kind: str
    paragraph: int
    start: int
    end: int
    quote: str
    arithmetic: str

    def as_dict(self) -> dict:
        return asdict(self)

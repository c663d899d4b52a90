from django import forms
from django.utils.translation import gettext_lazy as _

from jiedao.core.models import OrgUnit

from .documents import MAX_UPLOAD_BYTES
from .models import WordCategory

MAX_TEXT_CHARS = 200_000


class CheckForm(forms.Form):
    text = forms.CharField(label=_("粘贴文本"), required=False, max_length=MAX_TEXT_CHARS,
                           widget=forms.Textarea(attrs={
                               "rows": 10, "placeholder": _("把工作总结粘贴到这里,一行一段")}))
    file = forms.FileField(label=_("或上传文件"), required=False,
                           help_text=_("支持 .docx、.txt、.md,UTF-8 或 GB18030 编码,不超过 5 MB"),
                           widget=forms.ClearableFileInput(attrs={"accept": ".docx,.txt,.md"}))

    def clean_file(self):
        upload = self.cleaned_data.get("file")
        if upload and upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(_("文件过大:上限为 5 MB。"))
        return upload

    def clean(self):
        data = super().clean()
        if not data.get("file") and not (data.get("text") or "").strip():
            raise forms.ValidationError(_("请粘贴文本或上传文件。"))
        return data


class WordForm(forms.Form):
    word = forms.CharField(label=_("词语"), max_length=100)
    category = forms.ChoiceField(label=_("类别"), choices=WordCategory.choices)
    note = forms.CharField(label=_("说明"), max_length=200, required=False)
    unit = forms.ModelChoiceField(label=_("适用单位"), queryset=OrgUnit.objects.none())

    def __init__(self, *args, units=None, **kwargs):
        super().__init__(*args, **kwargs)
        if units is not None:
            self.fields["unit"].queryset = units
            first = units.first()
            if first is not None:
                self.fields["unit"].initial = first.pk


class ImportForm(forms.Form):
    file = forms.FileField(label=_("词表文件"),
                           help_text=_(".txt 每行一词(可用制表符分隔“词语、类别、说明”),"
                                       "或 .xlsx 三列:词语、类别、说明"),
                           widget=forms.ClearableFileInput(attrs={"accept": ".txt,.xlsx"}))
    unit = forms.ModelChoiceField(label=_("适用单位"), queryset=OrgUnit.objects.none())

    def __init__(self, *args, units=None, **kwargs):
        super().__init__(*args, **kwargs)
        if units is not None:
            self.fields["unit"].queryset = units
            first = units.first()
            if first is not None:
                self.fields["unit"].initial = first.pk

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > 10 * 1024 * 1024:
            raise forms.ValidationError(_("文件过大:上限为 10 MB。"))
        return upload

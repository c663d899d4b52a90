from django import forms
from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import password_validators_help_text_html
from django.utils import timezone
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy
from django.utils.translation import gettext_lazy as _

from jiedao.core.identifiers import normalize_mobile, validate_mobile
from jiedao.core.masking import mask_name
from jiedao.core.models import OrgUnit

from .access import scoped, units_in_scope
from .backends import AccountLocked
from .models import User
from .roles import Cap, Role


class LoginForm(forms.Form):
    username = forms.CharField(label=_("用户名"), max_length=150,
                               widget=forms.TextInput(attrs={"autocomplete": "username",
                                                             "autofocus": True}))
    password = forms.CharField(label=_("密码"), strip=False,
                               widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))

    def __init__(self, request=None, *args, **kwargs):
        self.request = request
        self.user = None
        super().__init__(*args, **kwargs)

    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username and password:
            try:
                self.user = authenticate(self.request, username=username, password=password)
            except AccountLocked as locked:
                until = timezone.localtime(locked.until).strftime("%H:%M")
                raise forms.ValidationError(
                    _("连续 %(n)d 次密码错误,账号已锁定至 %(until)s,请稍后再试或联系系统管理员解锁。")
                    % {"n": settings.LOGIN_MAX_FAILURES, "until": until},
                    code="locked",
                ) from None
            if self.user is None:
                raise forms.ValidationError(_("用户名或密码不正确。"), code="invalid_login")
        return self.cleaned_data


EMPTY_LABEL = gettext_lazy("请选择")


class Form(forms.Form):
    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("label_suffix", "")  # labels stand above their fields: no colon
        super().__init__(*args, **kwargs)


class ModelChoice(forms.ModelChoiceField):
    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("empty_label", EMPTY_LABEL)
        super().__init__(*args, **kwargs)


class UnitChoiceField(ModelChoice):
    def label_from_instance(self, obj: OrgUnit) -> str:
        return f"{obj.name}({obj.get_kind_display()})"


class UserChoiceField(ModelChoice):
    """Accounts are listed masked, like everywhere else: 张*(zhangsan)."""

    def label_from_instance(self, obj: User) -> str:
        return f"{mask_name(obj.full_name)}({obj.username})" if obj.full_name else obj.username


_password_help = lazy(password_validators_help_text_html, str)


class PasswordForm(Form):
    password = forms.CharField(
        label=gettext_lazy("新密码"), strip=False, help_text=_password_help(),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label=gettext_lazy("确认新密码"), strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self):
        data = super().clean()
        if data.get("password") and data.get("password2") != data.get("password"):
            self.add_error("password2", _("两次输入的密码不一致"))
        return data


class UserCreateForm(PasswordForm):
    username = forms.CharField(
        label=gettext_lazy("用户名"), max_length=150,
        help_text=gettext_lazy("登录用,可含字母、数字和 @ . + - _"),
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    full_name = forms.CharField(label=gettext_lazy("姓名"), max_length=50)
    phone = forms.CharField(
        label=gettext_lazy("手机号"), max_length=20, required=False,
        validators=[validate_mobile],
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "off"}),
    )

    def clean_phone(self) -> str:
        return normalize_mobile(self.cleaned_data["phone"])
    home_unit = UnitChoiceField(label=gettext_lazy("所属单位"), queryset=OrgUnit.objects.none())
    field_order = ["username", "full_name", "phone", "home_unit", "password", "password2"]

    def __init__(self, *args, units, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["home_unit"].queryset = units
        self.fields["password"].label = gettext_lazy("初始密码")
        self.fields["password2"].label = gettext_lazy("确认密码")


class MembershipGrantForm(Form):
    user = UserChoiceField(label=gettext_lazy("账号"), queryset=User.objects.none())
    unit = UnitChoiceField(label=gettext_lazy("单位"), queryset=OrgUnit.objects.none())
    role = forms.ChoiceField(label=gettext_lazy("角色"),
                             choices=[("", EMPTY_LABEL), *Role.choices])

    def __init__(self, *args, actor, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = scoped(
            User.objects.filter(is_active=True).order_by("username"), actor, Cap.ROLES,
            field="home_unit",
        )
        self.fields["unit"].queryset = units_in_scope(actor, Cap.ROLES)

from django import forms
from django.conf import settings
from django.contrib.auth import authenticate
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .backends import AccountLocked


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

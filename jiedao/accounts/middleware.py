"""Idle timeout: a session untouched for IDLE_TIMEOUT_MINUTES is logged out.

The last activity is written to the session at most once every ``TOUCH_SECONDS``: writing it
on every request made every page a write transaction (the session row), which on SQLite
queues behind the one writer. A session therefore ends up to a minute early, never late.
"""

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _

from jiedao.audit.trail import Actor, record

SESSION_KEY = "jiedao_last_seen"
TOUCH_SECONDS = 60


class IdleTimeoutMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            now = time.time()
            last_seen = request.session.get(SESSION_KEY)
            if last_seen is not None and now - last_seen > settings.IDLE_TIMEOUT_MINUTES * 60:
                user = request.user
                record(by=Actor.of(request), event_type="auth.idle_logout", target=user,
                       org_unit=user.home_unit,
                       detail=f"超过 {settings.IDLE_TIMEOUT_MINUTES} 分钟未操作")
                logout(request)
                if request.path.startswith("/api/"):
                    from django.http import JsonResponse

                    return JsonResponse({"detail": _("登录已超时")}, status=401)
                messages.info(request, _("您已超过 %(n)d 分钟未操作,请重新登录。")
                              % {"n": settings.IDLE_TIMEOUT_MINUTES})
                login_url = reverse(settings.LOGIN_URL)
                return redirect(f"{login_url}?next={request.get_full_path()}")
            if last_seen is None or now - last_seen >= TOUCH_SECONDS:
                request.session[SESSION_KEY] = now
        return self.get_response(request)

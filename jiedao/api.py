"""The JSON API (django-ninja): OpenAPI at /api/openapi.json, docs at /api/docs.

Callers authenticate with a personal token (``Authorization: Bearer jd_…``, issued by
``jiedao token issue USERNAME NAME``) or, from the staff pages, with their session (CSRF
checked). Either way the request acts as that user, with the same scopes as the pages.
"""

from django.http import HttpRequest
from ninja import NinjaAPI
from ninja.security import HttpBearer, SessionAuth

from jiedao.accounts import tokens


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str):
        user = tokens.user_for(token)
        if user is not None:
            request.user = user
        return user


class ActiveSessionAuth(SessionAuth):
    def authenticate(self, request: HttpRequest, key):
        user = super().authenticate(request, key)
        return user if user is not None and user.is_active else None


api = NinjaAPI(
    title="jiedao API",
    version="1",
    description="街道工作系统的 JSON 接口:与页面相同的权限范围。",
    auth=[TokenAuth(), ActiveSessionAuth()],
    urls_namespace="api",
)

for _app in ("cases", "ledgers", "records", "checker"):
    _module = __import__(f"jiedao.{_app}.api", fromlist=["router"])
    api.add_router(f"/{_app}/", _module.router)

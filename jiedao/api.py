"""The JSON API (django-ninja): OpenAPI at /api/openapi.json, docs at /api/docs.

Callers authenticate with a personal token (``Authorization: Bearer jd_…``, issued by
``jiedao token issue USERNAME NAME``) or, from the staff pages, with their session (CSRF
checked). Either way the request acts as that user, with the same scopes as the pages.
"""

from django.http import Http404, HttpRequest, JsonResponse
from django.urls import Resolver404, resolve
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import HttpBearer, SessionAuth

from jiedao.accounts import tokens


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str):
        user = tokens.user_for(token)
        if user is not None:
            request.user = user
        return user


class ActiveSessionAuth(SessionAuth):
    def _get_key(self, request: HttpRequest):
        # No session cookie: no session to use, and no CSRF token to ask for — a caller whose
        # token is bad or revoked is told 401, not that a CSRF check failed.
        if self.param_name not in request.COOKIES:
            return None
        return super()._get_key(request)

    def authenticate(self, request: HttpRequest, key):
        if key is None:
            return None
        user = super().authenticate(request, key)
        return user if user is not None and user.is_active else None


api = NinjaAPI(
    title="jiedao API",
    version="1",
    description="街道工作系统的 JSON 接口:与页面相同的权限范围。",
    auth=[TokenAuth(), ActiveSessionAuth()],
    urls_namespace="api",
)

# What pydantic's error types mean, in the users' language (the field is named before it).
VALIDATION_MESSAGES = {
    "missing": "缺少必填字段",
    "int_parsing": "应为整数", "int_type": "应为整数", "int_from_float": "应为整数",
    "float_parsing": "应为数字", "decimal_parsing": "应为数字", "decimal_type": "应为数字",
    "bool_parsing": "应为 true 或 false", "bool_type": "应为 true 或 false",
    "string_type": "应为文本", "string_too_long": "过长", "string_too_short": "过短",
    "datetime_parsing": "日期时间格式不对(应为 ISO 8601,如 2021-10-08T09:30:00+08:00)",
    "datetime_from_date_parsing": "日期时间格式不对(应为 ISO 8601,如 2021-10-08T09:30:00+08:00)",
    "date_parsing": "日期格式不对(应为 2021-10-08)",
    "date_from_datetime_parsing": "日期格式不对(应为 2021-10-08)",
    "greater_than_equal": "太小", "less_than_equal": "太大", "greater_than": "太小", "less_than": "太大",
    "literal_error": "取值不在允许范围内", "enum": "取值不在允许范围内",
    "json_invalid": "JSON 格式有误", "model_attributes_type": "应为对象", "dict_type": "应为对象",
    "list_type": "应为列表", "finite_number": "应为有限的数",
}


@api.exception_handler(ValidationError)
def validation_error(request: HttpRequest, exc: ValidationError):
    """422 with each problem's field and a Chinese message (``loc`` as django-ninja gives it)."""
    errors = []
    for error in exc.errors:
        loc = [str(part) for part in error.get("loc", ())]
        field = ".".join(part for part in loc if part not in ("body", "query", "path", "form", "payload"))
        reason = VALIDATION_MESSAGES.get(error.get("type", ""), error.get("msg", "输入有误"))
        errors.append({"loc": loc, "field": field, "type": error.get("type", ""),
                       "msg": f"{field or '请求'}:{reason}"})
    return api.create_response(request, {"detail": errors}, status=422)


@api.exception_handler(AuthenticationError)
def unauthenticated(request: HttpRequest, exc: AuthenticationError):
    return api.create_response(request, {
        "detail": "未登录,或令牌无效、已吊销(请用 Authorization: Bearer jd_… 或登录后的会话)",
        "field": "", "code": "unauthenticated"}, status=401)


@api.exception_handler(Http404)
def not_found(request: HttpRequest, exc: Http404):
    return api.create_response(request, {"detail": "不存在,或不在您的权限范围内", "field": "",
                                         "code": "not_found"}, status=404)


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, exc: HttpError):
    if exc.status_code == 400 and isinstance(exc.__cause__, ValueError):  # ninja could not parse the body
        return api.create_response(request, {"detail": f"请求体不是有效的 JSON:{exc.__cause__}",
                                             "field": "", "code": "invalid"}, status=400)
    return api.create_response(request, {"detail": str(exc)}, status=exc.status_code)


@csrf_exempt
def no_such_endpoint(request: HttpRequest, rest: str = "") -> JsonResponse:
    """Any other address under /api/: the API's 404 in its own format, not the HTML page. An
    address that exists with or without a trailing slash says so — a POST to ``/api/cases``
    would otherwise be redirected to ``/api/cases/`` and lose its body."""
    path = request.path_info
    other = path[:-1] if path.endswith("/") else path + "/"
    try:
        exists = resolve(other).func is not no_such_endpoint
    except Resolver404:
        exists = False
    detail = f"没有这个接口:{path}" + (f";请用 {other}" if exists else ";接口列表见 /api/docs")
    return JsonResponse({"detail": detail, "field": "", "code": "not_found"}, status=404,
                        json_dumps_params={"ensure_ascii": False})


for _app in ("cases", "ledgers", "records", "checker"):
    _module = __import__(f"jiedao.{_app}.api", fromlist=["router"])
    api.add_router(f"/{_app}/", _module.router)

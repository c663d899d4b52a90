from django.urls import include, path, re_path

from jiedao.api import api, no_such_endpoint
from jiedao.front.admin_site import admin_site

urlpatterns = [
    # First: the machine endpoints take the most requests, and every pattern tried before a
    # match costs each of them (the prefixes do not overlap, so order changes nothing else).
    path("api/", api.urls),
    re_path(r"^api/(?P<rest>.*)$", no_such_endpoint),  # not the HTML 404, nor a redirect losing a POST
    path("open311/v2/", include("jiedao.cases.open311_urls")),
    path("", include("jiedao.front.urls")),
    path("accounts/", include("jiedao.accounts.urls")),
    path("audit/", include("jiedao.audit.urls")),
    path("cases/outbox/", include("jiedao.cases.outbox_urls")),
    path("cases/", include("jiedao.cases.urls")),
    path("ledgers/", include("jiedao.ledgers.urls")),
    path("records/", include("jiedao.records.urls")),
    path("checker/", include("jiedao.checker.urls")),
    path("s/", include("jiedao.cases.public_urls")),
    path("admin/", admin_site.urls),
]

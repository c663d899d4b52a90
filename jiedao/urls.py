from django.urls import include, path

from jiedao.front.admin_site import admin_site

urlpatterns = [
    path("", include("jiedao.front.urls")),
    path("accounts/", include("jiedao.accounts.urls")),
    path("audit/", include("jiedao.audit.urls")),
    path("admin/", admin_site.urls),
]

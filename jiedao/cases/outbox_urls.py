"""外发消息 staff page.

Mounted by the project's urls.py: ``path("cases/outbox/", include("jiedao.cases.outbox_urls"))``.
"""

from django.urls import path

from . import outbox

app_name = "outbox"
urlpatterns = [
    path("", outbox.outbox_list, name="list"),
    path("<int:pk>/retry/", outbox.outbox_retry, name="retry"),
]

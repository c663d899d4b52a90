from django.urls import path

from . import views

app_name = "front"
urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("org/", views.org_tree, name="org_tree"),
    path("org/<int:pk>/", views.org_unit, name="org_unit"),
]

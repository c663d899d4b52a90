"""The resident's phone page under /s/ (no login)."""

from django.urls import path  # noqa: F401

app_name = "public"
urlpatterns: list = []

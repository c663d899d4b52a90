"""The resident's phone page under /s/ (no login)."""

from django.urls import path

from . import public

app_name = "public"
urlpatterns = [
    path("", public.home, name="home"),
    path("new/<slug:code>/", public.submit, name="submit"),
    path("done/", public.done, name="done"),
    path("track/", public.track, name="track"),
    path("track/<str:code>/", public.progress, name="progress"),
    path("track/<str:code>/rate/", public.rate, name="rate"),
]

from django.urls import path

from . import views

app_name = "checker"
urlpatterns = [
    path("", views.check, name="check"),
    path("lexicon/", views.lexicon, name="lexicon"),
    path("lexicon/add/", views.word_add, name="word_add"),
    path("lexicon/import/", views.words_import, name="words_import"),
    path("lexicon/<int:pk>/delete/", views.word_delete, name="word_delete"),
]

from django.urls import path

from . import views, views_integrity

app_name = "ledgers"
urlpatterns = [
    path("", views.index, name="index"),
    path("integrity/", views_integrity.archive_list, name="integrity_list"),
    path("integrity/new/", views_integrity.archive_create, name="integrity_create"),
    path("integrity/export.xlsx", views_integrity.archive_export, name="integrity_export"),
    path("integrity/<int:pk>/", views_integrity.archive_detail, name="integrity_detail"),
    path(
        "integrity/<int:pk>/entries/<int:entry_pk>/document/",
        views_integrity.entry_document,
        name="integrity_document",
    ),
    path("imports/<int:pk>/", views.import_run, name="import_run"),
    path("imports/<int:pk>/progress/", views.import_progress, name="import_progress"),
    path("imports/<int:pk>/confirm/", views.import_confirm, name="import_confirm"),
    path("imports/<int:pk>/errors.xlsx", views.import_errors, name="import_errors"),
    path("residents/<int:pk>/health/", views.health, name="health"),
    path("residents/<int:pk>/agreements/", views.agreement_create, name="agreement_create"),
    path("projects/<int:pk>/investment/", views.project_investment, name="project_investment"),
    path("projects/<int:pk>/milestone/", views.project_milestone, name="project_milestone"),
    path("<slug:ledger>/", views.ledger_list, name="list"),
    path("<slug:ledger>/new/", views.ledger_create, name="create"),
    path("<slug:ledger>/template.xlsx", views.template_download, name="template"),
    path("<slug:ledger>/export.xlsx", views.export, name="export"),
    path("<slug:ledger>/import/", views.import_start, name="import"),
    path("<slug:ledger>/<int:pk>/", views.ledger_detail, name="detail"),
    path("<slug:ledger>/<int:pk>/edit/", views.ledger_edit, name="edit"),
    path("<slug:ledger>/<int:pk>/archive/", views.ledger_archive, name="archive"),
    path("<slug:ledger>/<int:pk>/reveal/<slug:field>/", views.reveal, name="reveal"),
]

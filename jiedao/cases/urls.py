"""Staff pages of the case loop (工单), mounted under /cases/."""

from django.urls import path

from . import views

app_name = "cases"
urlpatterns = [
    path("", views.case_list, name="case_list"),
    path("tab-counts/", views.case_tab_counts, name="case_tab_counts"),
    path("count/", views.case_count, name="case_count"),
    path("export.xlsx", views.case_export, name="case_export"),
    path("new/", views.case_new, name="case_new"),
    path("new/similar/", views.intake_similar, name="intake_similar"),
    path("<int:pk>/", views.case_detail, name="case_detail"),
    path("<int:pk>/do/<slug:action>/", views.case_act, name="case_act"),
    path("<int:pk>/attach/", views.case_attach, name="case_attach"),
    path("<int:pk>/reveal/", views.case_reveal, name="case_reveal"),
    path("attachments/<int:pk>/", views.attachment_file, name="attachment_file"),
    path("supervision/", views.supervision, name="supervision"),
    path("kpis/", views.kpi_page, name="kpis"),
    path("inbox/", views.notification_list, name="notifications"),
    path("inbox/bell/", views.notification_bell, name="notification_bell"),
    path("inbox/<int:pk>/read/", views.notification_read, name="notification_read"),
    path("inbox/read-all/", views.notification_read_all, name="notification_read_all"),
]

from django.urls import path

from . import views

app_name = "records"
urlpatterns = [
    path("", views.index, name="index"),
    path("tallies/", views.tally_list, name="tally_list"),
    path("tallies/new/", views.tally_create, name="tally_create"),
    path("tallies/import/", views.tally_import, name="tally_import"),
    path("tallies/template.xlsx", views.tally_template, name="tally_template"),
    path("tallies/export.xlsx", views.tally_export, name="tally_export"),
    path("tallies/<int:pk>/", views.tally_detail, name="tally_detail"),
    path("tallies/photos/<int:pk>/", views.tally_photo, name="tally_photo"),
    path("meetings/", views.meeting_list, name="meeting_list"),
    path("meetings/new/", views.meeting_create, name="meeting_create"),
    path("meetings/<int:pk>/", views.meeting_detail, name="meeting_detail"),
    path("visits/", views.visit_list, name="visit_list"),
    path("visits/new/", views.visit_create, name="visit_create"),
    path("visits/<int:pk>/", views.visit_detail, name="visit_detail"),
    path("visits/key-enterprises/", views.key_enterprises, name="key_enterprises"),
    path("inspections/", views.inspection_list, name="inspection_list"),
    path("inspections/new/", views.inspection_create, name="inspection_create"),
    path("inspections/<int:pk>/", views.inspection_detail, name="inspection_detail"),
    path("plans/", views.plan_list, name="plan_list"),
    path("plans/new/", views.plan_edit, name="plan_create"),
    path("plans/<int:pk>/", views.plan_edit, name="plan_edit"),
    path("indicators/", views.indicator_list, name="indicator_list"),
    path("indicators/import/", views.indicator_import, name="indicator_import"),
    path("indicators/template.xlsx", views.indicator_template, name="indicator_template"),
    path("indicators/<int:pk>/", views.indicator_detail, name="indicator_detail"),
    path("<slug:kind>/", views.simple_list, name="simple_list"),
    path("<slug:kind>/new/", views.simple_create, name="simple_create"),
]

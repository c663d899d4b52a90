"""Configuration of work records in the capability-based admin (jiedao.front.admin_site):
activity types and indicator definitions are reference data for the whole deployment,
configured by the system admin (Cap.CONFIG); every save is an audit event."""

from jiedao.front.admin_site import ReferenceAdmin, admin_site

from .models import ActivityType, Indicator


class ActivityTypeAdmin(ReferenceAdmin):
    audited_fields = ["name", "measure", "section", "sort", "is_active"]
    list_display = ["name", "measure", "section", "sort", "is_active"]
    list_filter = ["section", "is_active"]
    search_fields = ["name"]


class IndicatorAdmin(ReferenceAdmin):
    audited_fields = ["code", "name", "unit", "cumulative", "sort", "is_active"]
    list_display = ["name", "code", "unit", "cumulative", "sort", "is_active"]
    list_filter = ["unit", "is_active"]
    search_fields = ["name", "code"]


admin_site.register(ActivityType, ActivityTypeAdmin)
admin_site.register(Indicator, IndicatorAdmin)

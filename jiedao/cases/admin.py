"""The case catalogue in 系统配置: categories, their deadline policy and the resident menu."""

from jiedao.front.admin_site import ReferenceAdmin, admin_site

from .models import Category


class CategoryAdmin(ReferenceAdmin):
    audited_fields = ["kind", "code", "name", "group", "description", "deadline_value", "deadline_unit",
                      "accept_hours", "home_visit", "public", "sort", "is_active"]
    list_display = ["name", "group", "kind", "code", "deadline_value", "deadline_unit", "accept_hours",
                    "public", "is_active"]
    list_filter = ["kind", "group", "public", "is_active"]
    search_fields = ["name", "code", "group"]

    def get_readonly_fields(self, request, obj=None):
        return ["code"] if obj else []  # Open311 clients know categories by code


admin_site.register(Category, CategoryAdmin)

"""Django admin for configuration, open to the admin roles only.

Access is decided by capabilities, not Django's is_staff/permission tables: the system admin
configures the organisation, the security admin the role grants. Business roles and the
auditor get the admin's login page and no data. Every save goes through a service or writes
an audit event, like any other change.
"""

from django.contrib import admin
from django.contrib.admin import AdminSite
from django.utils.translation import gettext_lazy as _

from jiedao.accounts.access import has_cap, scoped
from jiedao.accounts.models import Membership
from jiedao.accounts.roles import Cap
from jiedao.audit.trail import Actor, atomic, diff, record, snapshot
from jiedao.core.models import OrgUnit


class JiedaoAdminSite(AdminSite):
    site_header = _("街道 · 系统配置")
    site_title = _("系统配置")
    index_title = _("配置")

    def has_permission(self, request) -> bool:
        user = request.user
        return user.is_active and (has_cap(user, Cap.CONFIG) or has_cap(user, Cap.ROLES))


admin_site = JiedaoAdminSite(name="admin")


class CapabilityAdmin(admin.ModelAdmin):
    """A ModelAdmin governed by one capability within the user's scope."""

    cap: str = ""
    scope_field: str = "org_unit"
    audited_fields: list[str] = []

    def _allowed(self, request) -> bool:
        return has_cap(request.user, self.cap)

    def has_module_permission(self, request) -> bool:
        return self._allowed(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return self._allowed(request)

    def has_add_permission(self, request) -> bool:
        return self._allowed(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return self._allowed(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # records are deactivated or revoked, never deleted from here

    def get_queryset(self, request):
        return scoped(super().get_queryset(request), request.user, self.cap, self.scope_field)

    def save_model(self, request, obj, form, change) -> None:
        fields = self.audited_fields or list(form.changed_data)
        with atomic():
            before = snapshot(type(obj).objects.get(pk=obj.pk), fields) if change else {}
            super().save_model(request, obj, form, change)
            record(
                by=Actor.of(request),
                event_type=f"admin.{obj._meta.model_name}_{'update' if change else 'create'}",
                target=obj,
                org_unit=self.unit_of(obj),
                changes=diff(obj, before, fields),
            )

    def unit_of(self, obj):
        return getattr(obj, self.scope_field, None) if self.scope_field else obj


class ReferenceAdmin(CapabilityAdmin):
    """Reference data for the whole deployment (catalogues, activity types …): no org unit,
    so not scoped, but only for holders of ``Cap.CONFIG``; every save is an audit event."""

    cap = Cap.CONFIG
    scope_field = ""

    def get_queryset(self, request):
        return self.model.objects.all()

    def unit_of(self, obj):
        return None


class OrgUnitAdmin(CapabilityAdmin):
    cap = Cap.CONFIG
    scope_field = ""
    audited_fields = ["kind", "name", "code", "parent", "is_active"]
    list_display = ["name", "kind", "code", "parent", "is_active"]
    list_filter = ["kind", "is_active"]
    search_fields = ["name", "code"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "parent":
            kwargs["queryset"] = scoped(OrgUnit.objects.all(), request.user, self.cap, "")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_add_permission(self, request) -> bool:
        return self._allowed(request)


class MembershipAdmin(CapabilityAdmin):
    cap = Cap.ROLES
    scope_field = "unit"
    audited_fields = ["user", "unit", "role"]
    list_display = ["user", "unit", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__username", "user__full_name", "unit__name"]
    autocomplete_fields = []

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # a grant is revoked and granted anew, never edited in place

    def has_delete_permission(self, request, obj=None) -> bool:
        return self._allowed(request) and (obj is None or obj.user_id != request.user.pk)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "unit":
            kwargs["queryset"] = scoped(OrgUnit.objects.all(), request.user, self.cap, "")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change) -> None:
        from jiedao.accounts.services import membership_grant

        granted = membership_grant(
            by=Actor.of(request), user=obj.user, unit=obj.unit, role=obj.role
        )
        obj.pk, obj.created_at = granted.pk, granted.created_at

    def delete_model(self, request, obj) -> None:
        from jiedao.accounts.services import membership_revoke

        membership_revoke(by=Actor.of(request), membership=obj)

    def delete_queryset(self, request, queryset) -> None:
        for obj in queryset:
            self.delete_model(request, obj)


admin_site.register(OrgUnit, OrgUnitAdmin)
admin_site.register(Membership, MembershipAdmin)

"""The Django admin at /admin/: super-admins only, and read-mostly.

Organizations, keys and the audit log change through the portal's pages (which call the audited
services); here they are only looked at. Users are managed here (roles, organizations, passwords).
"""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.db import transaction

from audit.services import audit_record
from core.admin import ReadOnlyAdmin, admin_site
from organizations.models import Organization, User


@admin.register(Organization, site=admin_site)
class OrganizationAdmin(ReadOnlyAdmin):
    list_display = ["name", "slug", "status", "edition", "subscription_ends_at", "created_at"]
    list_filter = ["status", "edition"]
    search_fields = ["name", "slug", "=uuid"]
    readonly_fields = ["uuid"]


@admin.register(User, site=admin_site)
class PortalUserAdmin(UserAdmin):
    list_display = ["username", "email", "role", "organization", "is_active", "last_login"]
    list_filter = ["role", "is_active"]
    list_select_related = ["organization"]
    search_fields = ["username", "email"]
    fieldsets = [
        *UserAdmin.fieldsets,
        ("Portal role", {"fields": ["role", "organization"]}),
    ]
    add_fieldsets = [
        *UserAdmin.add_fieldsets,
        ("Portal role", {"fields": ["role", "organization", "email"]}),
    ]
    autocomplete_fields = ["organization"]

    def has_view_permission(self, request, obj=None):
        return admin_site.has_permission(request)

    def has_add_permission(self, request):
        return admin_site.has_permission(request)

    def has_change_permission(self, request, obj=None):
        return admin_site.has_permission(request)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        """Users change here, not through a portal page: audit it the same way (never the password)."""
        fields = ["username", "email", "role", "organization_id", "is_active", "is_staff", "is_superuser"]
        before = None
        if change:
            stored = type(obj).objects.get(pk=obj.pk)
            before = {name: str(getattr(stored, name)) for name in fields}
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            after = {name: str(getattr(obj, name)) for name in fields}
            if change and "password" in form.changed_data:
                after["password"] = "changed"
            audit_record(
                actor=request.user,
                action="user.update" if change else "user.create",
                organization=obj.organization,
                obj=obj,
                before=before,
                after=after,
            )

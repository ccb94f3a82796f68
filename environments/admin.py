from django.contrib import admin

from core.admin import ReadOnlyAdmin, admin_site
from environments.models import Environment, Machine


@admin.register(Environment, site=admin_site)
class EnvironmentAdmin(ReadOnlyAdmin):
    list_display = ["name", "organization", "enabled", "deleted_at", "created_at"]
    list_filter = ["enabled"]
    list_select_related = ["organization"]
    search_fields = ["name", "organization__name", "=uuid"]


@admin.register(Machine, site=admin_site)
class MachineAdmin(ReadOnlyAdmin):
    list_display = ["uid", "hostname", "organization", "environment", "product_version", "is_primary", "last_seen_at"]
    list_select_related = ["organization", "environment"]
    search_fields = ["=uid", "hostname", "mac"]
    show_full_result_count = False

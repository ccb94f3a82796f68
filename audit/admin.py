from django.contrib import admin

from audit.models import AuditEvent
from core.admin import ReadOnlyAdmin, admin_site


@admin.register(AuditEvent, site=admin_site)
class AuditEventAdmin(ReadOnlyAdmin):
    """The audit log is append-only: no add, change or delete here either."""

    list_display = ["created_at", "actor_label", "action", "object_type", "object_repr", "ip"]
    list_filter = ["action"]
    search_fields = ["actor_label", "=object_id", "object_repr", "=request_id"]
    show_full_result_count = False
    date_hierarchy = None

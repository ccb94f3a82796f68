from django.contrib import admin

from core.admin import ReadOnlyAdmin, admin_site
from licenses.models import ActivationEvent, LicenseKey


@admin.register(LicenseKey, site=admin_site)
class LicenseKeyAdmin(ReadOnlyAdmin):
    list_display = ["public_id", "kind", "organization", "environment", "status", "issued_at", "expires_at"]
    list_filter = ["kind", "status"]
    list_select_related = ["organization", "environment"]
    search_fields = ["=public_id", "machine_name", "description"]
    exclude = ["digest", "encrypted_key"]
    show_full_result_count = False


@admin.register(ActivationEvent, site=admin_site)
class ActivationEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "event", "license", "machine_uid", "code", "actor_label"]
    list_filter = ["event"]
    list_select_related = ["license"]
    search_fields = ["=machine_uid", "=license__public_id"]
    show_full_result_count = False

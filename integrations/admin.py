"""API tokens in the Django admin: looked at only (made and revoked on the API tokens pages, which
audit it); the digest is never shown."""

from django.contrib import admin

from core.admin import ReadOnlyAdmin, admin_site
from integrations.models import APIToken


@admin.register(APIToken, site=admin_site)
class APITokenAdmin(ReadOnlyAdmin):
    list_display = ["name", "prefix", "organization", "created_by", "created_at", "expires_at", "last_used_at"]
    list_filter = ["revoked_at"]
    list_select_related = ["organization", "created_by"]
    search_fields = ["name", "prefix"]
    exclude = ["digest"]

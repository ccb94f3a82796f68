"""The Django admin at /admin/: super-admins only, and read-mostly.

Organizations, keys and the audit log change through the portal's pages (which call the audited
services); here they are only looked at. Each app registers its models on ``admin_site`` with
``ReadOnlyAdmin``.
"""

from django.contrib import admin
from django.core.paginator import Paginator
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _


class SuperAdminSite(admin.AdminSite):
    site_header = _("Licensing portal administration")
    site_title = _("Licensing portal admin")
    index_title = _("Data (read-mostly: use the portal's pages to change organizations and keys)")
    site_url = "/"

    def has_permission(self, request):
        user = request.user
        return user.is_active and user.is_authenticated and user.is_super_admin


admin_site = SuperAdminSite(name="admin")


class CappedCountPaginator(Paginator):
    """Counts at most ``CAP`` rows (an index-only scan), so a table of millions pages at once;
    the admin then offers the first CAP / per-page pages and the search and filters."""

    CAP = 10_000

    @cached_property
    def count(self) -> int:
        return len(self.object_list.values_list("pk", flat=True)[: self.CAP])


class ReadOnlyAdmin(admin.ModelAdmin):
    """Look, don't touch: changes go through the audited services behind the portal's pages."""

    paginator = CappedCountPaginator

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return admin_site.has_permission(request)

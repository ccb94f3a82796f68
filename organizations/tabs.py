"""The organization page's tabs, shared by every app's views of that page."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext as _

from notifications.selectors import may_manage_endpoints
from organizations.models import Organization
from organizations.selectors import may_request_trial


def organization_tabs(user, organization: Organization) -> list[tuple[str, str, str]]:
    """The organization page's tabs that ``user`` may open: (name, label, url)."""
    slug = organization.slug
    tabs = [
        ("environments", _("Environments"), reverse("organization_detail", args=[slug])),
        ("machines", _("Machines"), reverse("machine_list", args=[slug])),
        ("licenses", _("Licenses"), reverse("license_list", args=[slug])),
    ]
    tabs.append(
        ("temporary", _("Temporary keys"), reverse("temporary_key_list", args=[slug]))
    )  # read-only but for super-admins
    tabs.append(("server", _("Server access keys"), reverse("server_key_list", args=[slug])))
    if may_request_trial(user, organization):
        tabs.append(("trial", _("Trial key"), reverse("trial_key", args=[slug])))
    tabs.append(("audit", _("Audit"), reverse("organization_audit", args=[slug])))
    if user.is_super_admin or (user.role == user.Role.ORG_ADMIN and user.organization_id == organization.pk):
        tabs.append(("api_tokens", _("API tokens"), reverse("organization_api_tokens", args=[slug])))
    if may_manage_endpoints(user, organization):
        tabs.append(("webhooks", _("Webhooks"), reverse("organization_webhooks", args=[slug])))
    return tabs


def organization_page_context(request, organization: Organization, tab: str, **context) -> dict:
    """What every tab of the organization page needs: the organization, its tabs, the open one."""
    return {"organization": organization, "tabs": organization_tabs(request.user, organization), "tab": tab, **context}

"""Who sees and manages which webhook endpoints, and the scoped lookups the pages use.

Vendor-wide endpoints (no organization) are the super-admins'; an organization's are its admins'
and co-admins' (as its server keys are) and the super-admins'. Anyone else gets a 404 for an
endpoint or a delivery, never a sign that it exists.
"""

from __future__ import annotations

import uuid

from django.http import Http404
from django.utils.translation import gettext_lazy as _

from notifications.models import Delivery, WebhookEndpoint

NOT_A_MANAGER = _("Only super-admins and the organization's admins and co-admins manage its webhooks.")


def may_manage_endpoints(user, organization) -> bool:
    """Whether ``user`` may see and change the endpoints of ``organization`` (None: vendor-wide)."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_super_admin:
        return True
    return organization is not None and user.can_manage(organization)


def endpoints_of(organization):
    """An organization's endpoints, or the vendor-wide ones (``organization`` None), newest first."""
    endpoints = WebhookEndpoint.objects.select_related("organization").order_by("-created_at", "-id")
    if organization is None:
        return endpoints.filter(organization__isnull=True)
    return endpoints.filter(organization=organization)


def endpoint_for_user(user, endpoint_id) -> WebhookEndpoint:
    """The endpoint ``endpoint_id`` (its uuid) if ``user`` may manage it; 404 otherwise."""
    try:
        key = uuid.UUID(str(endpoint_id))
    except ValueError:
        raise Http404("No such webhook endpoint.") from None
    endpoint = WebhookEndpoint.objects.select_related("organization").filter(uuid=key).first()
    if endpoint is None or not may_manage_endpoints(user, endpoint.organization):
        raise Http404("No such webhook endpoint.")
    return endpoint


def delivery_for_user(user, delivery_id: int) -> Delivery:
    """The delivery ``delivery_id`` if ``user`` may manage its endpoint; 404 otherwise."""
    found = Delivery.objects.select_related("event", "endpoint__organization").filter(pk=delivery_id).first()
    if found is None or not may_manage_endpoints(user, found.endpoint.organization):
        raise Http404("No such delivery.")
    return found


def deliveries_of(endpoint: WebhookEndpoint):
    """An endpoint's delivery log, newest first."""
    return endpoint.deliveries.select_related("event").order_by("-created_at", "-id")

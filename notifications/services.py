"""Publishing events to webhook endpoints, and managing the endpoints. Keyword-only services, each
audited; the deliveries themselves are attempted by ``notifications.delivery``."""

from __future__ import annotations

import secrets

from django.db.models import Q

from notifications import catalogue, jobs
from notifications.models import Delivery, Event, WebhookEndpoint


def event_publish(*, event_type: str, organization, data: dict) -> Event | None:
    """Record one event and a delivery to each enabled endpoint that receives it (the vendor's and
    the organization's), in the caller's transaction; the job runner is told on commit (or, on
    PostgreSQL, in the same transaction). None when no endpoint wants it: nothing is written."""
    if event_type not in catalogue.EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}: add it to notifications.catalogue")
    reach = Q(organization__isnull=True)
    if organization is not None:
        reach |= Q(organization=organization)
    endpoints = [
        endpoint for endpoint in WebhookEndpoint.objects.filter(reach, enabled=True) if endpoint.receives(event_type)
    ]
    if not endpoints:
        return None
    event = Event.objects.create(type=event_type, organization=organization, data=data)
    deliveries = Delivery.objects.bulk_create(Delivery(event=event, endpoint=endpoint) for endpoint in endpoints)
    for delivery in deliveries:
        jobs.delivery_defer(delivery.pk)
    return event


def audit_event_published(audit_event) -> None:
    """``settings.AUDIT_EVENT_HOOKS``: the catalogue's events of an audited change."""
    event_types = catalogue.event_types_for(audit_event)
    if not event_types or not WebhookEndpoint.objects.filter(enabled=True).exists():
        return
    data = catalogue.data_for(audit_event)
    if data is None:
        return
    for event_type in event_types:
        event_publish(event_type=event_type, organization=audit_event.organization, data=data)


def new_secret() -> str:
    """``whsec_`` and 32 random bytes in base64, as the Standard Webhooks libraries read it."""
    import base64

    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def endpoint_snapshot(endpoint: WebhookEndpoint) -> dict:
    return {
        "url": endpoint.url,
        "events": list(endpoint.events),
        "enabled": endpoint.enabled,
        "description": endpoint.description,
        "organization": endpoint.organization.slug if endpoint.organization_id else None,
    }

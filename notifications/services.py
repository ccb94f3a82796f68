"""Publishing events to webhook endpoints, and managing the endpoints. Keyword-only services, each
audited; the deliveries themselves are attempted by ``notifications.delivery``."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.models import Action
from audit.services import audit_record
from notifications import catalogue, jobs
from notifications.delivery import destination_check
from notifications.models import Delivery, Event, WebhookEndpoint
from notifications.selectors import NOT_A_MANAGER, may_manage_endpoints


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


# Managing endpoints (the pages and the management API) ------------------------------------------

MAX_URL_LENGTH = 500
MAX_DESCRIPTION_LENGTH = 200
EDITABLE = ("url", "events", "enabled", "description")


def endpoint_validate(*, url: str, events: list[str], description: str = "") -> tuple[str, list[str]]:
    """The URL and event filter of an endpoint, cleaned (events in catalogue order), or a
    ValidationError naming each bad field. One place for the form and the API."""
    errors: dict[str, list[str]] = {}
    url = (url or "").strip()
    scheme = urlsplit(url).scheme.lower() if url else ""
    allowed = {"https", "http"} if settings.WEBHOOK_ALLOW_PRIVATE_DESTINATIONS else {"https"}
    if not url:
        errors["url"] = [_("Enter the URL that receives the webhooks.")]
    elif len(url) > MAX_URL_LENGTH:
        errors["url"] = [_("The URL has at most %(count)d characters.") % {"count": MAX_URL_LENGTH}]
    elif scheme not in allowed:
        errors["url"] = [_("The URL must start with https://.")]
    else:
        try:
            URLValidator(schemes=sorted(allowed))(url)
        except ValidationError:
            errors["url"] = [_("Enter a valid URL (https://host/path).")]
        else:
            refused = destination_check(url)
            if refused:
                errors["url"] = [refused]
    events = list(events or [])
    unknown = [event for event in events if event not in catalogue.EVENT_TYPES]
    if not events:
        errors["events"] = [_("Choose at least one event, or all events.")]
    elif "*" in events and len(set(events)) > 1:
        errors["events"] = [_('All events ("*") goes alone, without other event types.')]
    elif "*" not in events and unknown:
        errors["events"] = [_("Unknown event type %(types)s.") % {"types": ", ".join(unknown)}]
    if len(description or "") > MAX_DESCRIPTION_LENGTH:
        errors["description"] = [_("At most %(count)d characters.") % {"count": MAX_DESCRIPTION_LENGTH}]
    if errors:
        raise ValidationError(errors)
    cleaned = ["*"] if "*" in events else [event for event in catalogue.EVENT_TYPES if event in events]
    return url, cleaned


def _permission_check(actor, organization) -> None:
    """A person acting (not a token, whose reach the API checked) must manage these endpoints."""
    if getattr(actor, "pk", None) and not may_manage_endpoints(actor, organization):
        raise PermissionDenied(NOT_A_MANAGER)


def endpoint_create(
    *,
    actor,
    organization,
    url: str,
    events: list[str],
    description: str = "",
    enabled: bool = True,
    created_by=None,
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint of ``organization`` (None: vendor-wide, super-admins only) and its secret,
    shown to its maker once (it stays readable to the portal: the v1 signatures need it).
    ``created_by`` is the person told when the portal disables it (the acting user by default; for
    an API token, its creator)."""
    _permission_check(actor, organization)
    url, events = endpoint_validate(url=url, events=events, description=description)
    creator = created_by or (actor if getattr(actor, "pk", None) else None)
    secret = new_secret()
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.create(
            organization=organization,
            url=url,
            events=events,
            description=(description or "").strip(),
            enabled=bool(enabled),
            secret=secret,
            created_by=creator,
            created_by_label=str(actor)[:150] if actor is not None else "command line",
        )
        audit_record(
            actor=actor, action=Action.WEBHOOK_CREATE, organization=organization, obj=endpoint,
            after=endpoint_snapshot(endpoint),
        )  # fmt: skip
    return endpoint, secret


def endpoint_update(*, actor, endpoint: WebhookEndpoint, **changes) -> WebhookEndpoint:
    """Change an endpoint's url, events, enabled or description; enabling it again clears why the
    portal disabled it and its failing streak."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise TypeError(f"endpoint_update cannot change {', '.join(sorted(unknown))}")
    _permission_check(actor, endpoint.organization)
    url, events = endpoint_validate(
        url=changes.get("url", endpoint.url),
        events=changes.get("events", endpoint.events),
        description=changes.get("description", endpoint.description),
    )
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update(of=("self",)).select_related("organization")
        endpoint = locked.get(pk=endpoint.pk)
        before = endpoint_snapshot(endpoint)
        enabling = bool(changes.get("enabled", endpoint.enabled)) and not endpoint.enabled
        endpoint.url, endpoint.events = url, events
        endpoint.description = (changes.get("description", endpoint.description) or "").strip()
        endpoint.enabled = bool(changes.get("enabled", endpoint.enabled))
        if enabling:
            endpoint.disabled_reason, endpoint.failing_since = "", None
        after = endpoint_snapshot(endpoint)
        if after == before and not enabling:
            return endpoint
        endpoint.save()
        audit_record(
            actor=actor, action=Action.WEBHOOK_UPDATE, organization=endpoint.organization, obj=endpoint,
            before=before, after=after,
        )  # fmt: skip
    return endpoint


def endpoint_delete(*, actor, endpoint: WebhookEndpoint) -> None:
    """Delete an endpoint and its delivery log (its events stay for the other endpoints)."""
    _permission_check(actor, endpoint.organization)
    with transaction.atomic():
        audit_record(
            actor=actor, action=Action.WEBHOOK_DELETE, organization=endpoint.organization, obj=endpoint,
            before=endpoint_snapshot(endpoint),
        )  # fmt: skip
        endpoint.delete()


def delivery_resend(*, actor, delivery: Delivery) -> Delivery:
    """Attempt a delivery again now, whatever became of it (the same webhook-id: a receiver that
    has it already can tell). Refused while its endpoint is disabled (it would fail at once)."""
    _permission_check(actor, delivery.endpoint.organization)
    if not delivery.endpoint.enabled:
        raise ValidationError(_("The endpoint is disabled: enable it before sending again."))
    now = timezone.now()
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update(of=("self",)).select_related("event", "endpoint").get(pk=delivery.pk)
        )
        before = {"status": delivery.status, "attempts": delivery.attempts}
        delivery.status, delivery.next_attempt_at = Delivery.Status.PENDING, now
        delivery.save(update_fields=["status", "next_attempt_at"])
        audit_record(
            actor=actor,
            action=Action.WEBHOOK_RESEND,
            organization=delivery.endpoint.organization,
            object_type="delivery",
            object_id=str(delivery.pk),
            object_repr=f"{delivery.event.type} {delivery.event.webhook_id} → {delivery.endpoint.url}",
            before=before,
            after={"status": delivery.status, "webhook_id": delivery.event.webhook_id},
        )
        jobs.delivery_defer(delivery.pk)
    return delivery

"""``/webhook-endpoints`` and ``/webhook-deliveries``: the management API's webhook endpoints and
their delivery log (MANAGEMENT_API.md). Every operation needs the ``webhooks:write`` scope, reads
too. A vendor token reaches every endpoint (vendor-wide or any organization's); an organization
token its organization's only (others answer 404, as none). Mounted on ``integrations.api.api`` by
``licensing_portal.urls`` (the management API, below this app, does not import it)."""

import uuid
from typing import Annotated, Literal

from ninja import Query, Router, Schema, Status
from ninja.params.functions import Path
from pydantic import Field

from core.time import rfc3339
from integrations.api.auth import caller_with, organization_for
from integrations.api.errors import APIError, patch_changes
from integrations.api.idempotency import idempotent
from integrations.api.pagination import PageParams, paginate
from integrations.api.schemas import ERRORS, Storable, Strict
from integrations.models import Scope
from integrations.tokens import Caller
from notifications.models import Delivery, WebhookEndpoint
from notifications.selectors import deliveries_of
from notifications.services import delivery_resend, endpoint_create, endpoint_delete, endpoint_update

router = Router(tags=["webhooks"])

EndpointRef = Annotated[str, Path(max_length=40, description="the endpoint's id (a uuid)"), Storable]
DeliveryRef = Annotated[str, Path(max_length=20, description="the delivery's id"), Storable]
EventType = Annotated[str, Field(min_length=1, max_length=64)]
MAX_DELIVERY_ID = 2**63 - 1


class EndpointOut(Schema):
    id: str
    url: str
    events: list[str]
    enabled: bool
    description: str
    organization: str | None = Field(description="The organization's slug; null for a vendor-wide endpoint.")
    disabled_reason: str
    created_at: str


class CreatedEndpointOut(EndpointOut):
    secret: str = Field(description="whsec_…: the key of the v1 signatures, shown in this answer only.")


class EndpointList(Schema):
    data: list[EndpointOut]
    next: str | None


class EndpointCreate(Strict):
    url: str = Field(max_length=500, description="https:// only.")
    events: list[EventType] = Field(max_length=100, description='Event types, or ["*"] for all.')
    enabled: bool = True
    description: str = Field("", max_length=200)
    organization: str | None = Field(
        None,
        max_length=100,
        description="A vendor token's: the organization (slug or uuid) whose events it receives; "
        "none for every organization's. An organization token's endpoints are its organization's.",
    )


class EndpointPatch(Strict):
    url: str | None = Field(None, max_length=500)
    events: list[EventType] | None = Field(None, max_length=100)
    enabled: bool | None = None
    description: str | None = Field(None, max_length=200)


class DeliveryOut(Schema):
    id: int
    event_id: str = Field(description="The webhook-id header: the same on every attempt of one event.")
    type: str
    status: Literal["pending", "retrying", "succeeded", "failed"]
    attempts: int
    response_status: int | None
    duration_ms: int | None
    response_excerpt: str
    error: str
    created_at: str
    last_attempt_at: str | None
    next_attempt_at: str | None


class DeliveryList(Schema):
    data: list[DeliveryOut]
    next: str | None


def endpoint_representation(endpoint: WebhookEndpoint) -> dict:
    return {
        "id": str(endpoint.uuid),
        "url": endpoint.url,
        "events": list(endpoint.events),
        "enabled": endpoint.enabled,
        "description": endpoint.description,
        "organization": endpoint.organization.slug if endpoint.organization_id else None,
        "disabled_reason": endpoint.disabled_reason,
        "created_at": rfc3339(endpoint.created_at),
    }


def delivery_representation(delivery: Delivery) -> dict:
    return {
        "id": delivery.pk,
        "event_id": delivery.event.webhook_id,
        "type": delivery.event.type,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "response_status": delivery.response_status,
        "duration_ms": delivery.duration_ms,
        "response_excerpt": delivery.response_excerpt,
        "error": delivery.error,
        "created_at": rfc3339(delivery.created_at),
        "last_attempt_at": rfc3339(delivery.last_attempt_at),
        "next_attempt_at": rfc3339(delivery.next_attempt_at),
    }


def _reaches(caller: Caller, endpoint: WebhookEndpoint) -> bool:
    """A vendor token reaches every endpoint; an organization token its organization's."""
    if caller.organization is None:
        return True
    return endpoint.organization_id is not None and caller.reaches(endpoint.organization)


def _endpoint_for(caller: Caller, endpoint_id: str) -> WebhookEndpoint:
    """An endpoint the token reaches, by id; 404 for another organization's as for none."""
    try:
        key = uuid.UUID(endpoint_id)
    except ValueError:
        raise APIError(404, "No such webhook endpoint.") from None
    endpoint = WebhookEndpoint.objects.select_related("organization").filter(uuid=key).first()
    if endpoint is None or not _reaches(caller, endpoint):
        raise APIError(404, "No such webhook endpoint.")
    return endpoint


def _delivery_for(caller: Caller, delivery_id: str) -> Delivery:
    if not delivery_id.isdigit() or not 0 < int(delivery_id) <= MAX_DELIVERY_ID:
        raise APIError(404, "No such delivery.")
    delivery = Delivery.objects.select_related("event", "endpoint__organization").filter(pk=int(delivery_id)).first()
    if delivery is None or not _reaches(caller, delivery.endpoint):
        raise APIError(404, "No such delivery.")
    return delivery


@router.get("/webhook-endpoints", response={200: EndpointList, **ERRORS}, summary="List webhook endpoints")
def webhook_endpoint_list(request, page: Query[PageParams]):
    caller = caller_with(request, Scope.WEBHOOKS_WRITE)
    endpoints = WebhookEndpoint.objects.select_related("organization")
    if caller.organization is not None:
        endpoints = endpoints.filter(organization=caller.organization)
    return paginate(endpoints, page=page, field="created_at", represent=endpoint_representation)


def _restore_secret(body: dict) -> dict:
    """A replayed answer to a create carries the secret again (it is not kept with the answer)."""
    return {**body, "secret": WebhookEndpoint.objects.get(uuid=body["id"]).secret}


@router.post("/webhook-endpoints", response={201: CreatedEndpointOut, **ERRORS}, summary="Create a webhook endpoint")
@idempotent(201, secret_fields=("secret",), restore=_restore_secret)
def webhook_endpoint_create(request, payload: EndpointCreate):
    caller = caller_with(request, Scope.WEBHOOKS_WRITE)
    organization = caller.organization
    if payload.organization is not None:
        organization = organization_for(caller, payload.organization)
    endpoint, secret = endpoint_create(
        actor=caller.actor,
        organization=organization,
        url=payload.url,
        events=payload.events,
        description=payload.description,
        enabled=payload.enabled,
        created_by=caller.token.created_by,
    )
    return {**endpoint_representation(endpoint), "secret": secret}


@router.get("/webhook-endpoints/{endpoint_id}", response={200: EndpointOut, **ERRORS}, summary="Show an endpoint")
def webhook_endpoint_show(request, endpoint_id: EndpointRef):
    return endpoint_representation(_endpoint_for(caller_with(request, Scope.WEBHOOKS_WRITE), endpoint_id))


@router.patch("/webhook-endpoints/{endpoint_id}", response={200: EndpointOut, **ERRORS}, summary="Edit an endpoint")
def webhook_endpoint_patch(request, endpoint_id: EndpointRef, payload: EndpointPatch):
    caller = caller_with(request, Scope.WEBHOOKS_WRITE)
    endpoint = _endpoint_for(caller, endpoint_id)
    changes = patch_changes(payload)
    endpoint = endpoint_update(actor=caller.actor, endpoint=endpoint, **changes)
    return endpoint_representation(endpoint)


@router.delete(
    "/webhook-endpoints/{endpoint_id}", response={204: None, **ERRORS}, summary="Delete an endpoint and its log"
)
def webhook_endpoint_delete(request, endpoint_id: EndpointRef):
    caller = caller_with(request, Scope.WEBHOOKS_WRITE)
    endpoint_delete(actor=caller.actor, endpoint=_endpoint_for(caller, endpoint_id))
    return Status(204, None)


@router.get(
    "/webhook-endpoints/{endpoint_id}/deliveries",
    response={200: DeliveryList, **ERRORS},
    summary="An endpoint's delivery log",
)
def webhook_delivery_list(request, page: Query[PageParams], endpoint_id: EndpointRef):
    endpoint = _endpoint_for(caller_with(request, Scope.WEBHOOKS_WRITE), endpoint_id)
    return paginate(deliveries_of(endpoint), page=page, field="created_at", represent=delivery_representation)


@router.post(
    "/webhook-deliveries/{delivery_id}/resend",
    response={200: DeliveryOut, **ERRORS},
    summary="Send a delivery again now",
)
@idempotent(200)
def webhook_delivery_resend(request, delivery_id: DeliveryRef):
    caller = caller_with(request, Scope.WEBHOOKS_WRITE)
    delivery = delivery_resend(actor=caller.actor, delivery=_delivery_for(caller, delivery_id))
    return delivery_representation(delivery)

"""``/organizations``: list, create, show, edit, renew, suspend, resume; and their environments."""

from typing import Annotated

from django.utils import timezone
from ninja import Query, Router

from environments.models import Environment
from environments.services import environment_create
from integrations import representations
from integrations.api.auth import caller_with, organization_for
from integrations.api.errors import APIError, patch_changes
from integrations.api.idempotency import idempotent
from integrations.api.pagination import PageParams, paginate
from integrations.api.schemas import (
    ERRORS,
    EnvironmentCreate,
    EnvironmentList,
    EnvironmentName,
    EnvironmentOut,
    EnvironmentPatch,
    OrganizationCreate,
    OrganizationList,
    OrganizationOut,
    OrganizationPatch,
    OrganizationRef,
    Renewal,
    Storable,
)
from integrations.models import Scope
from licenses.bindings import environment_set_status
from organizations.models import Organization
from organizations.selectors import organization_search, organization_states
from organizations.services import (
    organization_create,
    organization_set_status,
    organization_update,
    subscription_renew,
)

router = Router(tags=["organizations"])


def _vendor_writer(request):
    caller = caller_with(request, Scope.ORGANIZATIONS_WRITE)
    if not caller.token.is_vendor:  # never issued to one, but a token is checked where it acts
        raise APIError(403, "Only vendor tokens change organizations.")
    return caller


@router.get("/organizations", response={200: OrganizationList, **ERRORS}, summary="List organizations")
def organization_list(
    request,
    page: Query[PageParams],
    q: Annotated[str, Query(max_length=100, description="name or slug contains, or uuid begins with"), Storable] = "",
    status: str = Query("", pattern="^(|active|suspended|lapsed)$"),
):
    caller = caller_with(request, Scope.ORGANIZATIONS_READ)
    now = timezone.now()
    queryset = Organization.objects.all()
    if not caller.token.is_vendor:
        queryset = queryset.filter(pk=caller.token.organization_id)
    queryset = organization_search(queryset, q)
    if status == "lapsed":
        queryset = organization_states(queryset, "lapsed", now)
    elif status == "active":
        queryset = queryset.filter(status=Organization.Status.ACTIVE, subscription_ends_at__gt=now)
    elif status == "suspended":
        queryset = queryset.filter(status=Organization.Status.SUSPENDED)
    return paginate(
        queryset,
        page=page,
        field="created_at",
        represent=lambda row: representations.organization(row, now),
    )


@router.post("/organizations", response={201: OrganizationOut, **ERRORS}, summary="Create an organization")
@idempotent(201)
def organization_create_endpoint(request, payload: OrganizationCreate):
    caller = _vendor_writer(request)
    if payload.subscription_days is not None and payload.subscription_ends_at is not None:
        raise APIError(
            400,
            "Give subscription_days or subscription_ends_at, not both.",
            fields={"subscription_ends_at": ["Give subscription_days or subscription_ends_at, not both."]},
        )
    arguments = payload.model_dump(exclude_none=True)
    if "subscription_ends_at" in arguments and timezone.is_naive(arguments["subscription_ends_at"]):
        raise APIError(400, "Times carry a zone.", fields={"subscription_ends_at": ["Give a time zone (Z)."]})
    organization = organization_create(actor=caller.actor, **arguments)
    return representations.organization(organization)


@router.get("/organizations/{org}", response={200: OrganizationOut, **ERRORS}, summary="Show an organization")
def organization_show(request, org: OrganizationRef):
    caller = caller_with(request, Scope.ORGANIZATIONS_READ)
    return representations.organization(organization_for(caller, org))


@router.patch("/organizations/{org}", response={200: OrganizationOut, **ERRORS}, summary="Edit an organization")
def organization_patch(request, org: OrganizationRef, payload: OrganizationPatch):
    caller = _vendor_writer(request)
    organization = organization_for(caller, org)
    fields = patch_changes(payload)
    if fields:
        organization = organization_update(organization=organization, actor=caller.actor, **fields)
    return representations.organization(organization)


@router.post("/organizations/{org}/renew", response={200: OrganizationOut, **ERRORS}, summary="Renew the subscription")
@idempotent(200)
def organization_renew(request, org: OrganizationRef, payload: Renewal):
    caller = _vendor_writer(request)
    organization = organization_for(caller, org)
    subscription_renew(organization=organization, actor=caller.actor, months=payload.months, days=payload.days)
    organization.refresh_from_db()
    return representations.organization(organization)


def _set_status(request, org: str, status: str) -> dict:
    caller = _vendor_writer(request)
    organization = organization_for(caller, org)
    organization = organization_set_status(organization=organization, actor=caller.actor, status=status)
    return representations.organization(organization)


@router.post("/organizations/{org}/suspend", response={200: OrganizationOut, **ERRORS}, summary="Suspend")
@idempotent(200)
def organization_suspend(request, org: OrganizationRef):
    return _set_status(request, org, Organization.Status.SUSPENDED)


@router.post("/organizations/{org}/resume", response={200: OrganizationOut, **ERRORS}, summary="Resume")
@idempotent(200)
def organization_resume(request, org: OrganizationRef):
    return _set_status(request, org, Organization.Status.ACTIVE)


# Environments ------------------------------------------------------------------------------------


@router.get(
    "/organizations/{org}/environments",
    response={200: EnvironmentList, **ERRORS},
    tags=["environments"],
    summary="List environments",
)
def environment_list(
    request,
    page: Query[PageParams],
    org: OrganizationRef,
):
    organization = organization_for(caller_with(request, Scope.MACHINES_READ), org)
    queryset = Environment.objects.filter(organization=organization).select_related("organization")
    return paginate(queryset, page=page, field="created_at", represent=representations.environment)


@router.post(
    "/organizations/{org}/environments",
    response={201: EnvironmentOut, **ERRORS},
    tags=["environments"],
    summary="Create an environment",
)
@idempotent(201)
def environment_create_endpoint(request, org: OrganizationRef, payload: EnvironmentCreate):
    caller = caller_with(request, Scope.MACHINES_WRITE)
    organization = organization_for(caller, org)
    return representations.environment(
        environment_create(organization=organization, actor=caller.actor, name=payload.name)
    )


@router.patch(
    "/organizations/{org}/environments/{name}",
    response={200: EnvironmentOut, **ERRORS},
    tags=["environments"],
    summary="Enable, disable or delete an environment",
)
def environment_patch(request, org: OrganizationRef, name: EnvironmentName, payload: EnvironmentPatch):
    caller = caller_with(request, Scope.MACHINES_WRITE)
    organization = organization_for(caller, org)
    # The attached environment of that name, else the latest deleted one (to re-attach it).
    environment = (
        Environment.objects.filter(organization=organization, name__iexact=name)
        .order_by("-deleted_at", "-id")
        .select_related("organization")
    )
    attached = environment.filter(deleted_at__isnull=True).first()
    found = attached or environment.first()
    if found is None:
        raise APIError(404, f"No environment named {name!r}.")
    return representations.environment(
        environment_set_status(environment=found, actor=caller.actor, status=payload.status)
    )

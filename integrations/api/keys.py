"""``/organizations/{org}/keys`` and ``/keys/{id}``: list, issue, show, edit server keys, revoke, history."""

import uuid
from datetime import UTC, timedelta

from django.utils import timezone
from ninja import Query, Router

from environments.models import Environment
from integrations import representations
from integrations.api.auth import caller_with, organization_for
from integrations.api.errors import APIError, patch_changes
from integrations.api.idempotency import idempotent
from integrations.api.pagination import PageParams, paginate
from integrations.api.schemas import (
    ERRORS,
    HistoryList,
    IssuedKeyOut,
    KeyIssue,
    KeyList,
    KeyOut,
    KeyPatch,
    KeyRef,
    OrganizationRef,
    Revocation,
)
from integrations.models import Scope
from integrations.tokens import Caller
from licenses.models import Kind, LicenseKey
from licenses.selectors import ANY_KIND, history_of, issued_key_text, keys_filtered, keys_of, may_issue
from licenses.services import license_issue, license_revoke, license_update, parse_duration

router = Router(tags=["keys"])


def _key_for(caller: Caller, key_id: str) -> LicenseKey:
    """A key the token reaches, by public id; 404 for one of another organization as for none."""
    try:
        public_id = uuid.UUID(key_id)
    except ValueError:
        raise APIError(404, "No such key.") from None
    license_key = (
        LicenseKey.objects.visible()
        .select_related("organization", "environment", "machine")
        .filter(public_id=public_id)
        .first()
    )
    if license_key is None or not caller.reaches(license_key.organization):
        raise APIError(404, "No such key.")
    return license_key


@router.get("/organizations/{org}/keys", response={200: KeyList, **ERRORS}, summary="List keys")
def key_list(
    request,
    page: Query[PageParams],
    org: OrganizationRef,
    kind: str = Query("", pattern="^(|machine|temporary|server|trial|free)$"),
    status: str = Query("", pattern="^(|active|expired|inactive|revoked)$"),
):
    organization = organization_for(caller_with(request, Scope.KEYS_READ), org)
    now = timezone.now()
    queryset = keys_filtered(keys_of(organization, kind or ANY_KIND), organization, {"status": status}, now)
    queryset = queryset.select_related("organization")
    return paginate(
        queryset,
        page=page,
        field="issued_at",
        represent=lambda row: representations.license_key(row, now),
    )


def _restore_key_text(body: dict) -> dict:
    """A replayed answer to an issue carries the key's text again (it is not kept with the answer)."""
    license_key = LicenseKey.objects.get(public_id=body["id"])
    return {**body, "key": issued_key_text(license_key)}


@router.post("/organizations/{org}/keys", response={201: IssuedKeyOut, **ERRORS}, summary="Issue a key")
@idempotent(201, secret_fields=("key",), restore=_restore_key_text)
def key_issue(request, org: OrganizationRef, payload: KeyIssue):
    caller = caller_with(request, Scope.KEYS_WRITE)
    organization = organization_for(caller, org)
    if not may_issue(caller.token.created_by, organization, payload.kind):
        raise APIError(403, f"This token's creator may not issue {payload.kind} keys.")
    arguments = {"organization": organization, "kind": payload.kind, "actor": caller.actor}
    arguments["description"] = payload.description
    missing = {}
    if payload.kind == Kind.MACHINE:
        if not payload.environment:
            missing["environment"] = ["A machine key needs an environment (its name)."]
        else:
            environment = (
                Environment.objects.attached().filter(organization=organization, name__iexact=payload.environment)
            ).first()
            if environment is None:
                raise APIError(
                    400, "No such environment.", fields={"environment": [f"No environment {payload.environment!r}."]}
                )
            arguments["environment"] = environment
    elif payload.kind == Kind.TEMPORARY:
        if not payload.ttl:
            missing["ttl"] = ["A temporary key needs a time to live (30m, 2h, 7d)."]
        else:
            arguments["ttl"] = parse_duration(payload.ttl)
    elif payload.kind == Kind.SERVER:
        if not payload.machine_name:
            missing["machine_name"] = ["A server key needs the machine name it is for."]
        if payload.expires_on is None:
            missing["expires_on"] = ["A server key needs an expiration date."]
        arguments["machine_name"] = payload.machine_name or ""
        arguments["expires_on"] = payload.expires_on
    if missing:
        raise APIError(400, "The request has invalid fields.", fields=missing)
    license_key, text = license_issue(**arguments)
    return {**representations.license_key(license_key), "key": text}


@router.get("/keys/{key_id}", response={200: KeyOut, **ERRORS}, summary="Show a key (never its text)")
def key_show(request, key_id: KeyRef):
    return representations.license_key(_key_for(caller_with(request, Scope.KEYS_READ), key_id))


@router.patch("/keys/{key_id}", response={200: KeyOut, **ERRORS}, summary="Edit a server key")
def key_patch(request, key_id: KeyRef, payload: KeyPatch):
    caller = caller_with(request, Scope.KEYS_WRITE)
    license_key = _key_for(caller, key_id)
    fields = patch_changes(payload)
    current_day = None
    if license_key.expires_at is not None:  # valid through the day before its end (00:00Z)
        current_day = (license_key.expires_at.astimezone(UTC) - timedelta(days=1)).date()
    license_key = license_update(
        license_key=license_key,
        actor=caller.actor,
        description=fields.get("description", license_key.description),
        status=fields.get("status", license_key.status),
        expires_on=fields.get("expires_on", current_day),
    )
    return representations.license_key(_key_for(caller, key_id))


@router.post("/keys/{key_id}/revoke", response={200: KeyOut, **ERRORS}, summary="Revoke a key")
@idempotent(200)
def key_revoke(request, key_id: KeyRef, payload: Revocation):
    caller = caller_with(request, Scope.KEYS_WRITE)
    license_key = _key_for(caller, key_id)
    license_revoke(license_key=license_key, actor=caller.actor, reason=payload.reason)
    return representations.license_key(_key_for(caller, key_id))


@router.get("/keys/{key_id}/history", response={200: HistoryList, **ERRORS}, summary="A key's history")
def key_history(
    request,
    page: Query[PageParams],
    key_id: KeyRef,
):
    license_key = _key_for(caller_with(request, Scope.KEYS_READ), key_id)
    return paginate(history_of(license_key), page=page, field="created_at", represent=representations.history_row)

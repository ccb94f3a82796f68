"""The JSON shapes of the portal's objects as the management API (MANAGEMENT_API.md) shows them.

Plain functions of model instances, free of requests and of the API library, so that anything that
describes an object to the outside (webhook payloads too) shows it the same way. A key's text never
appears here.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from core.time import rfc3339


def organization(organization, now: datetime | None = None) -> dict:
    now = now or timezone.now()
    return {
        "uuid": str(organization.uuid),
        "slug": organization.slug,
        "name": organization.name,
        "status": organization.status,
        "state": organization.state_label(now).lower(),
        "edition": organization.edition,
        "subscription_starts_at": rfc3339(organization.subscription_starts_at),
        "subscription_ends_at": rfc3339(organization.subscription_ends_at),
        "transfer_limit": organization.transfer_limit,
        "fingerprint_policy": organization.fingerprint_policy,
        "created_at": rfc3339(organization.created_at),
    }


def environment(environment) -> dict:
    return {
        "uuid": str(environment.uuid),
        "name": environment.name,
        "status": environment.status,
        "organization": environment.organization.slug,
        "created_at": rfc3339(environment.created_at),
    }


def machine(machine, keys: list | None = None) -> dict:
    """``keys``: the public ids of the keys bound to it (its ``bound_keys`` prefetch if not given)."""
    if keys is None:
        bound = machine.bound_keys if hasattr(machine, "bound_keys") else machine.license_keys.all()
        keys = [str(key.public_id) for key in bound]
    return {
        "uid": machine.uid,
        "name": machine.name,
        "hostname": machine.hostname,
        "mac": machine.mac,
        "version": machine.product_version,
        "environment": machine.environment.name if machine.environment_id else None,
        "is_primary": machine.is_primary,
        "first_seen_at": rfc3339(machine.first_seen_at),
        "last_seen_at": rfc3339(machine.last_seen_at),
        "keys": keys,
    }


def license_key(license_key, now: datetime | None = None) -> dict:
    now = now or timezone.now()
    return {
        "id": str(license_key.public_id),
        "kind": license_key.kind,
        "status": license_key.status,
        "state": license_key.state_label(now).lower(),
        "organization": license_key.organization.slug,
        "environment": license_key.environment.name if license_key.environment_id else None,
        "machine_name": license_key.machine_name,
        "machine": license_key.machine.uid if license_key.machine_id else None,
        "description": license_key.description,
        "issued_at": rfc3339(license_key.issued_at),
        "expires_at": rfc3339(license_key.expires_at),
        "effective_expires_at": rfc3339(license_key.effective_expires_at),
        "revoked_at": rfc3339(license_key.revoked_at),
        "revocation_reason": license_key.revocation_reason,
    }


def history_row(event) -> dict:
    return {
        "event": event.event,
        "machine_uid": event.machine_uid,
        "code": event.code,
        "is_move": event.is_move,
        "detail": event.detail,
        "actor": event.actor_label,
        "created_at": rfc3339(event.created_at),
    }


def audit_event(event) -> dict:
    return {
        "id": event.pk,
        "created_at": rfc3339(event.created_at),
        "actor": event.actor_label,
        "organization": event.organization.slug if event.organization_id and event.organization else None,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "object_repr": event.object_repr,
        "before": event.before,
        "after": event.after,
        "request_id": event.request_id,
    }

"""The event catalogue (MANAGEMENT_API.md, "Webhooks"): every type an endpoint can receive, and how
an audited change becomes events.

Changes reach the catalogue through their audit event (``audit_record`` calls
``services.audit_event_published`` in the change's transaction), so no change needs a second call
to be announced. The expiry scan (``notifications.expiry``) adds the events that no change causes:
``*.expiring-soon`` and ``*.expired``.
"""

from __future__ import annotations

from environments.models import Environment, Machine
from integrations import representations
from licenses.models import LicenseKey
from organizations.models import Organization

ORGANIZATION_EVENTS = [
    "organization.created",
    "organization.updated",
    "organization.suspended",
    "organization.resumed",
    "subscription.renewed",
    "subscription.expiring-soon",
    "subscription.expired",
]
LICENSE_EVENTS = [
    "license.created",
    "license.updated",
    "license.revoked",
    "license.activated",
    "license.moved",
    "license.deactivated",
    "license.expiring-soon",
    "license.expired",
    "trial.requested",
]
OTHER_EVENTS = ["machine.detached", "environment.updated"]
EVENT_TYPES = ORGANIZATION_EVENTS + LICENSE_EVENTS + OTHER_EVENTS

# The audit actions that announce an event, and which one.
FROM_AUDIT = {
    "organization.create": "organization.created",
    "organization.update": "organization.updated",
    "organization.suspend": "organization.suspended",
    "organization.resume": "organization.resumed",
    "organization.renew": "subscription.renewed",
    "license.issue": "license.created",
    "license.update": "license.updated",
    "license.revoke": "license.revoked",
    "license.delete": "license.revoked",
    "license.activate": "license.activated",
    "license.activate_manual": "license.activated",
    "license.rebind": "license.activated",
    "license.deactivate": "license.deactivated",
    "machine.detach": "machine.detached",
    "environment.create": "environment.updated",
    "environment.enable": "environment.updated",
    "environment.disable": "environment.updated",
    "environment.delete": "environment.updated",
    "environment.reattach": "environment.updated",
}


def event_types_for(audit_event) -> list[str]:
    """The catalogue's types an audit event announces: none, one, or (a stopgap key) two."""
    event_type = FROM_AUDIT.get(audit_event.action)
    if event_type is None:
        return []
    after = audit_event.after or {}
    if event_type == "license.activated" and after.get("move"):
        return ["license.moved"]
    if audit_event.action == "license.issue" and after.get("kind") == "trial":
        return ["license.created", "trial.requested"]
    return [event_type]


def data_for(audit_event) -> dict | None:
    """The object the audit event is about, as the management API shows it; None if it is gone
    (a deleted key, a machine removed in the same change)."""
    kind, identifier = audit_event.object_type, audit_event.object_id
    if kind == "organization":
        found = Organization.objects.filter(uuid=identifier).first()
        return representations.organization(found) if found else None
    if kind == "licensekey":
        found = (
            LicenseKey.objects.select_related("organization", "environment", "machine")
            .filter(public_id=identifier)
            .first()
        )
        return representations.license_key(found) if found else None
    if kind == "machine":
        found = Machine.objects.select_related("environment").filter(uid=identifier).first()
        return representations.machine(found) if found else None
    if kind == "environment":
        found = Environment.objects.select_related("organization").filter(uuid=identifier).first()
        return representations.environment(found) if found else None
    return None

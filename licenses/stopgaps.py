"""The stopgap rule: one trial key per subscription period of an organization.

A *stopgap window* runs from the moment an organization's current subscription period was recorded
(its creation, or its latest renewal) to the next renewal. In each window the organization may
have one stopgap (trial) key, to bridge a lapse or evaluate; each grant by a super-admin allows
one more in that window. A renewal opens a new window, so the next lapse gets its own stopgap.
Renewing never gives back the time a stopgap bridged (``organizations.services.subscription_renew``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import formats
from django.utils.translation import gettext

from audit.services import actor_label, audit_record
from licenses.models import Kind, LicenseKey, StopgapGrant
from organizations.models import Organization


@dataclass(frozen=True)
class StopgapAllowance:
    window_starts_at: datetime
    used: int
    granted: int

    @property
    def allowed(self) -> int:
        return 1 + self.granted

    @property
    def available(self) -> bool:
        return self.used < self.allowed


def stopgap_window_start(organization: Organization) -> datetime:
    """When the current subscription period was recorded (the organization's creation if none is)."""
    period = organization.subscription_periods.order_by("-created_at", "-id").first()
    return period.created_at if period is not None else organization.created_at


def stopgap_allowance(organization: Organization) -> StopgapAllowance:
    starts = stopgap_window_start(organization)
    return StopgapAllowance(
        window_starts_at=starts,
        used=LicenseKey.objects.filter(organization=organization, kind=Kind.TRIAL, created_at__gte=starts).count(),
        granted=StopgapGrant.objects.filter(organization=organization, created_at__gte=starts).count(),
    )


def stopgap_refusal(organization: Organization) -> str | None:
    """Why ``organization`` may not have another stopgap key now, or None if it may."""
    allowance = stopgap_allowance(organization)
    if allowance.available:
        return None
    return gettext(
        "%(name)s has already had its stopgap (trial) key for this subscription period "
        "(one per period, counted since %(since)s). "
        "Renew the subscription, or ask the vendor's super-admin to grant another stopgap key."
    ) % {"name": organization.name, "since": formats.date_format(allowance.window_starts_at, "SHORT_DATE_FORMAT")}


def stopgap_require(organization: Organization) -> None:
    """Refuse a stopgap key (ValidationError) if the organization has used its allowance."""
    refusal = stopgap_refusal(organization)
    if refusal is not None:
        raise ValidationError({"kind": refusal})


@transaction.atomic
def stopgap_grant(*, organization: Organization, actor, reason: str = "") -> StopgapGrant:
    """Allow ``organization`` one more stopgap key in its current subscription period (super-admins)."""
    if actor is not None and not getattr(actor, "is_super_admin", False):
        raise ValidationError(gettext("Only super-admins grant another stopgap key."))
    organization = Organization.objects.select_for_update().get(pk=organization.pk)
    before = stopgap_allowance(organization)
    grant = StopgapGrant.objects.create(
        organization=organization,
        granted_by=actor if getattr(actor, "pk", None) else None,
        granted_by_label=actor_label(actor),
        reason=reason.strip()[:500],
    )
    audit_record(
        actor=actor,
        action="license.stopgap_grant",
        organization=organization,
        obj=grant,
        before={"used": before.used, "allowed": before.allowed},
        after={"used": before.used, "allowed": before.allowed + 1, "reason": grant.reason},
    )
    return grant

"""Environments of an organization (Production, Sandbox, …) and the machines agents run on."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from environments.fingerprint import Fingerprint, Rebind, fingerprint_rebind


class EnvironmentQuerySet(models.QuerySet):
    def attached(self):
        return self.filter(deleted_at__isnull=True)


class Environment(models.Model):
    class Status(models.TextChoices):
        ENABLED = "enabled", _("Enabled")
        DISABLED = "disabled", _("Disabled")
        DELETED = "deleted", _("Deleted")

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(
        "organizations.Organization", on_delete=models.PROTECT, related_name="environments"
    )
    name = models.CharField(max_length=100)
    enabled = models.BooleanField(default=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = EnvironmentQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                "organization",
                Lower("name"),
                condition=models.Q(deleted_at__isnull=True),
                name="environment_name_unique_per_organization",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def status(self) -> str:
        if self.deleted_at is not None:
            return self.Status.DELETED
        return self.Status.ENABLED if self.enabled else self.Status.DISABLED

    @property
    def is_usable(self) -> bool:
        return self.enabled and self.deleted_at is None

    def snapshot(self) -> dict:
        return {"name": self.name, "status": self.status}


class Machine(models.Model):
    """An agent install, known by its machine UID; bound to one organization until detached."""

    uid = models.CharField(max_length=64, unique=True)
    organization = models.ForeignKey(
        "organizations.Organization", null=True, blank=True, on_delete=models.PROTECT, related_name="machines"
    )
    environment = models.ForeignKey(
        Environment, null=True, blank=True, on_delete=models.SET_NULL, related_name="machines"
    )
    name = models.CharField(max_length=200, blank=True, help_text="The label the agent sent (machine_name).")
    # Normalised fingerprint components; empty for a machine known by its UID alone (manual activation).
    mac = models.CharField(max_length=255, blank=True)
    cpu_id = models.CharField(max_length=255, blank=True)
    hostname = models.CharField(max_length=255, blank=True)
    product_version = models.CharField(max_length=255, blank=True, help_text="As last reported, e.g. 4.4.2.")
    is_primary = models.BooleanField(default=False)
    bound_at = models.DateTimeField(null=True, blank=True)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    superseded_by = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="supersedes",
        help_text="The machine an in-place upgrade (another major.minor, same hardware) replaced this one with.",
    )

    class Meta:
        ordering = ["-last_seen_at"]
        # No index holds ``last_seen_at``: the "last seen" flush rewrites it for every machine that
        # called in the last minute, and an index on it would make each of those writes update every
        # index of the table (PostgreSQL's HOT update, which touches none, needs the indexed columns
        # unchanged and room on the row's page: migration 0006 leaves a fifth of each page free). An
        # organization's machines list sorts its machines, found by the organization's index.
        indexes = [
            models.Index(fields=["organization", "environment"], name="machine_org_environment"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(organization__isnull=True, bound_at__isnull=True)
                | models.Q(organization__isnull=False, bound_at__isnull=False),
                name="machine_bound_with_time",
            ),
        ]

    def __str__(self) -> str:
        return self.hostname or self.name or self.uid[:12]

    @property
    def components(self) -> dict[str, str]:
        """The normalised components as they enter the UID (empty if unknown)."""
        if not self.mac:
            return {}
        version = ".".join(self.product_version.split(".")[:2])
        return {"mac": self.mac, "cpu_id": self.cpu_id, "hostname": self.hostname, "product_version": version}

    def rebind_for(self, fingerprint: Fingerprint, *, policy: str) -> Rebind:
        """Whether a key bound to this machine may re-bind to the machine ``fingerprint`` describes
        under the organization's fingerprint ``policy``, and what changed (``fingerprint_rebind``)."""
        return fingerprint_rebind(self.components, fingerprint.as_components(), policy=policy)

    def snapshot(self) -> dict:
        return {
            "uid": self.uid,
            "organization": str(self.organization.uuid) if self.organization_id else None,
            "hostname": self.hostname,
            "mac": self.mac,
            "product_version": self.product_version,
            "is_primary": self.is_primary,
        }


class MachineClaim(models.Model):
    """An organization's claim to a machine that another organization holds (machine squatting: an
    organization can bind a machine whose fingerprint another organization's agent will use). Filed by
    the claimant's admins with the UID their agent shows; settled by a super-admin, who can ask both."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        RELEASED = "released", _("Released to the claimant")
        REJECTED = "rejected", _("Rejected")

    machine = models.ForeignKey(Machine, on_delete=models.PROTECT, related_name="claims")
    claimant = models.ForeignKey("organizations.Organization", on_delete=models.PROTECT, related_name="+")
    holder = models.ForeignKey(
        "organizations.Organization",
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The organization that held the machine when the claim was filed.",
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    settled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["machine", "claimant"],
                condition=models.Q(status="open"),
                name="machine_claim_one_open_per_claimant",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.claimant} claims {self.machine.uid[:12]}"

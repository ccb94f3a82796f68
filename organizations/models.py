"""Organizations (the vendor's customers), their subscription, and users with roles."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.urls import reverse
from django.utils import timezone


class Edition(models.TextChoices):
    PAID = "paid", "Paid"
    TRIAL = "trial", "Trial"
    FREE = "free", "Free"


class Organization(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    edition = models.CharField(max_length=16, choices=Edition.choices, default=Edition.PAID)
    subscription_starts_at = models.DateTimeField(default=timezone.now)
    subscription_ends_at = models.DateTimeField()
    transfer_limit = models.PositiveSmallIntegerField(
        default=3, help_text="Moves of one machine key to another machine allowed in 30 days."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(subscription_ends_at__gte=models.F("subscription_starts_at")),
                name="organization_subscription_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("organization_detail", args=[self.slug])

    @property
    def is_suspended(self) -> bool:
        return self.status == self.Status.SUSPENDED

    def subscription_active(self, now: datetime) -> bool:
        return self.subscription_starts_at <= now < self.subscription_ends_at

    def snapshot(self) -> dict:
        return {
            "name": self.name,
            "slug": self.slug,
            "status": self.status,
            "edition": self.edition,
            "subscription_starts_at": self.subscription_starts_at.isoformat(),
            "subscription_ends_at": self.subscription_ends_at.isoformat(),
            "transfer_limit": self.transfer_limit,
        }


class User(AbstractUser):
    class Role(models.TextChoices):
        SUPER_ADMIN = "super_admin", "Super-admin"
        ORG_ADMIN = "org_admin", "Organization admin"
        CO_ADMIN = "co_admin", "Co-admin"
        PARTNER = "partner", "Partner / developer"

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.PARTNER)
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.PROTECT, related_name="users"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(role="super_admin")
                | models.Q(role="partner")
                | models.Q(organization__isnull=False),
                name="user_org_admins_belong_to_an_organization",
            ),
        ]

    @property
    def is_super_admin(self) -> bool:
        return self.is_active and (self.role == self.Role.SUPER_ADMIN or self.is_superuser)

    @property
    def is_org_manager(self) -> bool:
        """An organization admin or co-admin."""
        return self.role in (self.Role.ORG_ADMIN, self.Role.CO_ADMIN) and self.organization_id is not None

    def can_manage(self, organization: Organization) -> bool:
        """May see and manage this organization's environments, machines, keys and audit."""
        return self.is_super_admin or (self.is_org_manager and self.organization_id == organization.pk)

"""Organizations (the vendor's customers), their subscription, and users with roles."""

from __future__ import annotations

import calendar
import uuid
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# How far ahead "ending soon" looks (dashboards, lists, filters).
ENDING_SOON = timedelta(days=30)
# The window the transfer limit counts a machine key's moves in, and the limit a new organization gets.
TRANSFER_WINDOW = timedelta(days=30)
DEFAULT_TRANSFER_LIMIT = 3


class Edition(models.TextChoices):
    PAID = "paid", _("Paid")
    TRIAL = "trial", _("Trial")
    FREE = "free", _("Free")


def add_months(moment: datetime, months: int) -> datetime:
    """``moment`` plus ``months`` calendar months; a day the target month lacks becomes its last day
    (January 31 + 1 month = February 28 or 29)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


class Organization(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        SUSPENDED = "suspended", _("Suspended")

    class FingerprintPolicy(models.TextChoices):
        STRICT = "strict", _("Strict: any hardware change is another machine")
        TOLERANT = "tolerant", _("Tolerant: one of MAC, CPU id or hostname may change")

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    edition = models.CharField(max_length=16, choices=Edition.choices, default=Edition.PAID)
    subscription_starts_at = models.DateTimeField(default=timezone.now)
    subscription_ends_at = models.DateTimeField(
        help_text="The end of the last paid period (SubscriptionPeriod), kept here by the services for fast reads."
    )
    transfer_limit = models.PositiveSmallIntegerField(
        default=DEFAULT_TRANSFER_LIMIT, help_text="Moves of one machine key to another machine allowed in 30 days."
    )
    fingerprint_policy = models.CharField(
        max_length=16, choices=FingerprintPolicy.choices, default=FingerprintPolicy.STRICT
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

    def is_lapsed(self, now: datetime) -> bool:
        """The paid subscription has ended (and no renewal has been recorded yet)."""
        return self.subscription_ends_at <= now

    def state_label(self, now: datetime | None = None) -> str:
        """What lists and badges say: Suspended, Lapsed (the subscription has ended) or Active."""
        if self.is_suspended:
            return self.get_status_display()
        if self.is_lapsed(now or timezone.now()):
            return _("Lapsed")
        return self.get_status_display()

    @property
    def state_display(self) -> str:
        return self.state_label()

    def snapshot(self) -> dict:
        return {
            "name": self.name,
            "slug": self.slug,
            "status": self.status,
            "edition": self.edition,
            "subscription_starts_at": self.subscription_starts_at.isoformat(),
            "subscription_ends_at": self.subscription_ends_at.isoformat(),
            "transfer_limit": self.transfer_limit,
            "fingerprint_policy": self.fingerprint_policy,
        }


class SubscriptionPeriod(models.Model):
    """One paid term of an organization's subscription. Periods follow each other: a renewal starts
    at the previous period's end, even when that end has passed (the lapse in between, bridged or
    not by a stopgap key, is never free). ``Organization.subscription_ends_at`` is the last one's end."""

    class Kind(models.TextChoices):
        INITIAL = "initial", _("Initial subscription")
        RENEWAL = "renewal", _("Renewal")

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="subscription_periods")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    term = models.CharField(max_length=32, blank=True, help_text="As renewed: '12 months', '30 days'.")
    recorded_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-starts_at", "-id"]
        indexes = [models.Index(fields=["organization", "-starts_at"], name="subscription_period_org")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gte=models.F("starts_at")), name="subscription_period_ends_after_start"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.starts_at:%Y-%m-%d} → {self.ends_at:%Y-%m-%d}"

    @property
    def length(self) -> timedelta:
        return self.ends_at - self.starts_at

    def snapshot(self) -> dict:
        return {
            "kind": self.kind,
            "starts_at": self.starts_at.isoformat(),
            "ends_at": self.ends_at.isoformat(),
            "term": self.term,
        }


class User(AbstractUser):
    class Role(models.TextChoices):
        SUPER_ADMIN = "super_admin", _("Super-admin")
        ORG_ADMIN = "org_admin", _("Organization admin")
        CO_ADMIN = "co_admin", _("Co-admin")
        PARTNER = "partner", _("Partner / developer")

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.PARTNER)
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.PROTECT, related_name="users"
    )
    # The pages' language this user chose (a code of settings.LANGUAGES); blank: the browser decides.
    language = models.CharField(max_length=8, blank=True, default="")

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

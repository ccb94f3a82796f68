"""Invitations to the portal and single sign-on connections (OpenID Connect).

The ``User`` model itself is ``organizations.User`` (AUTH_USER_MODEL).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from organizations.models import Organization, User


def token_digest(token: str) -> str:
    """Invitations store only the SHA-256 of their link's token: a database leak reveals no link."""
    return hashlib.sha256(token.encode()).hexdigest()


class Invitation(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        ACCEPTED = "accepted", _("Accepted")
        CANCELLED = "cancelled", _("Cancelled")
        EXPIRED = "expired", _("Expired")

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=User.Role.choices)
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.CASCADE, related_name="invitations"
    )
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="invitations_sent"
    )
    token_digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(role="super_admin", organization__isnull=True) | ~Q(role="super_admin"),
                name="invitation_super_admins_have_no_organization",
            ),
            models.CheckConstraint(
                condition=~Q(role__in=["org_admin", "co_admin"]) | Q(organization__isnull=False),
                name="invitation_org_admins_have_an_organization",
            ),
            models.CheckConstraint(
                condition=Q(accepted_at__isnull=True) | Q(cancelled_at__isnull=True),
                name="invitation_accepted_or_cancelled_not_both",
            ),
        ]

    def __str__(self) -> str:
        return f"Invitation of {self.email}"

    def status_at(self, now: datetime) -> str:
        if self.accepted_at:
            return self.Status.ACCEPTED
        if self.cancelled_at:
            return self.Status.CANCELLED
        if self.expires_at <= now:
            return self.Status.EXPIRED
        return self.Status.PENDING

    def snapshot(self) -> dict:
        return {
            "email": self.email,
            "role": self.role,
            "organization": self.organization.slug if self.organization else None,
            "expires_at": self.expires_at.isoformat(),
        }


class SingleSignOn(models.Model):
    """An OpenID Connect provider that signs users in: the staff's (no organization) or one organization's.

    Users are matched by verified e-mail within the connection's scope (the organization's users, or
    super-admins for the staff's); their role is the portal's, never the provider's.
    """

    organization = models.OneToOneField(
        Organization, null=True, blank=True, on_delete=models.CASCADE, related_name="single_sign_on"
    )
    for_staff = models.BooleanField(default=False, editable=False)
    is_enabled = models.BooleanField(default=True)
    issuer = models.URLField(help_text="The provider's issuer URL (its /.well-known/openid-configuration is read).")
    client_id = models.CharField(max_length=255)
    client_secret = models.TextField(help_text="Stored encrypted with ENCRYPTION_KEYS.")
    authorization_endpoint = models.URLField(max_length=500)
    token_endpoint = models.URLField(max_length=500)
    userinfo_endpoint = models.URLField(max_length=500)
    jwks_uri = models.URLField(max_length=500)
    creates_users = models.BooleanField(
        default=False, help_text="Create a portal user on the first sign-in of a verified e-mail not known yet."
    )
    new_user_role = models.CharField(
        max_length=16,
        choices=[(User.Role.CO_ADMIN, User.Role.CO_ADMIN.label), (User.Role.PARTNER, User.Role.PARTNER.label)],
        default=User.Role.CO_ADMIN,
        help_text="The role of a user created on first sign-in (an org admin can change it afterwards).",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["for_staff"], condition=Q(for_staff=True), name="single_sign_on_one_for_staff"
            ),
            models.CheckConstraint(
                condition=Q(for_staff=True, organization__isnull=True) | Q(for_staff=False, organization__isnull=False),
                name="single_sign_on_staff_or_one_organization",
            ),
            models.CheckConstraint(
                condition=Q(organization__isnull=False) | Q(creates_users=False),
                name="single_sign_on_staff_users_are_never_created",
            ),
        ]

    def __str__(self) -> str:
        return f"Single sign-on of {self.organization.name if self.organization else 'staff'}"

    @property
    def key(self) -> str:
        """The name in its sign-in address: the organization's slug, or ``staff``."""
        return self.organization.slug if self.organization else "staff"

    def snapshot(self) -> dict:
        return {
            "issuer": self.issuer,
            "client_id": self.client_id,
            "is_enabled": self.is_enabled,
            "creates_users": self.creates_users,
            "new_user_role": self.new_user_role,
        }

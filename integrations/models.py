"""API tokens of the management API (MANAGEMENT_API.md) and the answers kept for Idempotency-Key."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


class Scope(models.TextChoices):
    ORGANIZATIONS_READ = "organizations:read", _("Read organizations")
    ORGANIZATIONS_WRITE = "organizations:write", _("Create and change organizations (vendor tokens only)")
    KEYS_READ = "keys:read", _("Read keys and their history")
    KEYS_WRITE = "keys:write", _("Issue, edit and revoke keys")
    MACHINES_READ = "machines:read", _("Read environments and machines")
    MACHINES_WRITE = "machines:write", _("Create and change environments, detach machines")
    AUDIT_READ = "audit:read", _("Read the audit log")
    WEBHOOKS_WRITE = "webhooks:write", _("Manage webhook endpoints")


# Scopes only a vendor token (one made by a super-admin, reaching every organization) may hold.
VENDOR_ONLY_SCOPES = frozenset({Scope.ORGANIZATIONS_WRITE})
WRITE_SCOPES = frozenset(scope for scope in Scope.values if scope.endswith(":write"))


class APIToken(models.Model):
    """A bearer token. Only its SHA-256 digest is stored (its text is shown once, at creation);
    ``prefix`` is the start of its text, shown in lists so a person can tell tokens apart."""

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, help_text="The token's first characters (lpat_ and 8 more).")
    digest = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    organization = models.ForeignKey(
        "organizations.Organization",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="api_tokens",
        help_text="The organization it reaches; none for a vendor token (every organization).",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="api_tokens",
        help_text="Whose role bounds the token; none for a token an operator made with create_api_token.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "-created_at"], name="api_token_org_created")]

    def __str__(self) -> str:
        return f"API token {self.name}"

    @property
    def is_vendor(self) -> bool:
        return self.organization_id is None

    @property
    def actor_label(self) -> str:
        """Who the audit log says acted when this token wrote something."""
        return f"API token {self.name} ({self.prefix}…)"

    def state_label(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return gettext("Revoked")
        if self.expires_at is not None and self.expires_at <= now:
            return gettext("Expired")
        if self.created_by_id is not None and not self.created_by.is_active:
            return gettext("Creator deactivated")
        return gettext("Active")

    def snapshot(self) -> dict:
        return {
            "name": self.name,
            "prefix": self.prefix,
            "scopes": list(self.scopes),
            "organization": self.organization.slug if self.organization_id else None,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
        }


class IdempotentAnswer(models.Model):
    """The first answer to a POST with an ``Idempotency-Key``, replayed for 24 hours to the same
    token with the same key (and the same body; another body is refused)."""

    token = models.ForeignKey(APIToken, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_digest = models.CharField(max_length=64, help_text="SHA-256 of method, path and body.")
    status = models.PositiveSmallIntegerField()
    body = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["token", "key"], name="idempotent_answer_token_key")]

    def __str__(self) -> str:
        return f"{self.key} ({self.status})"

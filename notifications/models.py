"""Events, the webhook endpoints that receive them, their deliveries, and the e-mail notices sent.

An ``Event`` is one entry of the catalogue (``notifications.catalogue``): written in the transaction
of the change it describes (from its audit event) or by the expiry scan. Each enabled endpoint
whose filter matches gets one ``Delivery``, attempted by the job runner until it succeeds or gives
up (``notifications.delivery``). A ``Notice`` is an e-mail sent once: its unique key makes a second
host or a restart skip it.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class WebhookEndpoint(models.Model):
    """A receiver of signed events. Vendor-wide (no organization: every organization's events,
    made by super-admins) or one organization's (made by its admins)."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(
        "organizations.Organization",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="webhook_endpoints",
        help_text="The organization whose events it receives; none for every organization's.",
    )
    url = models.URLField(max_length=500)
    events = models.JSONField(default=list, help_text='Event types it receives, or ["*"] for all.')
    description = models.CharField(max_length=200, blank=True)
    secret = models.CharField(max_length=64, help_text="whsec_…: the HMAC key of its v1 signatures.")
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=200, blank=True)
    failing_since = models.DateTimeField(null=True, blank=True, help_text="First failure since the last success.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by_label = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.url

    def receives(self, event_type: str) -> bool:
        return "*" in self.events or event_type in self.events


class Event(models.Model):
    """One event of the catalogue; ``webhook_id`` is the same on every delivery and retry of it."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    type = models.CharField(max_length=64, db_index=True)
    organization = models.ForeignKey(
        "organizations.Organization",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    data = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.type} {self.webhook_id}"

    @property
    def webhook_id(self) -> str:
        return f"msg_{self.uuid.hex}"


class Delivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        RETRYING = "retrying", _("Retrying")
        SUCCEEDED = "succeeded", _("Delivered")
        FAILED = "failed", _("Failed")  # gave up (3 days of retries, 410, or its endpoint disabled)

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_excerpt = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["event", "endpoint"], name="delivery_event_endpoint")]
        indexes = [models.Index(fields=["endpoint", "-created_at"], name="delivery_endpoint_created")]

    def __str__(self) -> str:
        return f"{self.event.type} → {self.endpoint.url} ({self.status})"


class Notice(models.Model):
    """An e-mail notice sent once: (kind, subject, occasion) is unique, so the scan on any host, run
    again after a restart, sends nothing twice. ``occasion`` tells apart the notices of one object
    (the 30-, 7- and 1-day warnings, or a renewed subscription's new end)."""

    class Kind(models.TextChoices):
        SUBSCRIPTION_EXPIRING = "subscription.expiring-soon", _("Subscription ends soon")
        SUBSCRIPTION_EXPIRED = "subscription.expired", _("Subscription ended")
        LICENSE_EXPIRING = "license.expiring-soon", _("Key expires soon")
        LICENSE_EXPIRED = "license.expired", _("Key expired")
        TRIAL_REQUESTED = "trial.requested", _("Trial key issued")
        ENDPOINT_DISABLED = "webhook.disabled", _("Webhook endpoint disabled")

    kind = models.CharField(max_length=40, choices=Kind.choices)
    subject_id = models.CharField(max_length=64, help_text="The organization's uuid or the key's public id.")
    occasion = models.CharField(max_length=64, help_text="What makes this notice one of a kind (end date, days).")
    organization = models.ForeignKey(
        "organizations.Organization", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    recipients = models.JSONField(default=list)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "subject_id", "occasion"], name="notice_once"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.subject_id} {self.occasion}"

"""License keys, their verdicts and their history."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from audit.services import actor_label
from core.translatable import Message
from environments.fingerprint import (
    HARDWARE_COMPONENTS,
    STRICT,
    Fingerprint,
    changed_components,
    fingerprint_rebind,
)
from environments.models import Machine
from licenses.verdicts import ANOTHER_ORGANIZATION, LICENSE_VALID, Action, Code, Verdict
from organizations.models import TRANSFER_WINDOW


class Kind(models.TextChoices):
    MACHINE = "machine", _("Machine key")
    TEMPORARY = "temporary", _("Temporary key")
    SERVER = "server", _("Server access key")
    TRIAL = "trial", _("Trial key")
    FREE = "free", _("Free-edition key")


BINDABLE_KINDS = (Kind.MACHINE, Kind.SERVER, Kind.TRIAL, Kind.FREE)


class LicenseKeyQuerySet(models.QuerySet):
    def visible(self):
        """Keys that lists show: everything but deleted server keys."""
        return self.filter(deleted_at__isnull=True)

    def for_verdict(self):
        return self.select_related("organization", "environment", "machine")


class LicenseKey(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        INACTIVE = "inactive", _("Inactive")
        REVOKED = "revoked", _("Revoked")

    class Released(models.TextChoices):
        NONE = "", "—"
        DEACTIVATE = "deactivate", _("Released by the agent")
        DETACH = "detach", _("Detached by an administrator")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    organization = models.ForeignKey(
        "organizations.Organization", on_delete=models.PROTECT, related_name="license_keys"
    )
    environment = models.ForeignKey(
        "environments.Environment", null=True, blank=True, on_delete=models.PROTECT, related_name="license_keys"
    )
    machine_name = models.CharField(max_length=255, blank=True, help_text="Server keys: the host they are for.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="The key's own end (TTL, trial end, server key date); null for machine keys."
    )
    description = models.CharField(max_length=500, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    issued_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="temporary_keys",
        help_text="Temporary keys: the partner or developer it was issued for.",
    )
    digest = models.CharField(max_length=64, unique=True)
    signing_kid = models.CharField(
        max_length=64,
        blank=True,
        help_text="The signing key that signed the key's text (kept published while it lives).",
    )
    encrypted_key = models.TextField()
    machine = models.ForeignKey(
        "environments.Machine", null=True, blank=True, on_delete=models.PROTECT, related_name="license_keys"
    )
    bound_at = models.DateTimeField(null=True, blank=True)
    last_machine_uid = models.CharField(max_length=64, blank=True)
    released_by = models.CharField(max_length=16, choices=Released.choices, blank=True, default="")
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revocation_reason = models.CharField(max_length=500, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = LicenseKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-issued_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "kind", "-issued_at"], name="license_org_kind_issued"),
            models.Index(fields=["expires_at"], name="license_expires"),
            models.Index(fields=["-issued_at", "-id"], name="license_issued"),
            models.Index(fields=["organization", "kind", "expires_at"], name="license_org_kind_expires"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(machine__isnull=True, bound_at__isnull=True)
                | Q(machine__isnull=False, bound_at__isnull=False),
                name="license_bound_with_time",
            ),
            models.CheckConstraint(
                condition=~Q(kind="temporary") | Q(machine__isnull=True), name="license_temporary_never_bound"
            ),
            models.CheckConstraint(
                condition=~Q(kind="machine") | Q(environment__isnull=False), name="license_machine_has_environment"
            ),
            models.CheckConstraint(
                condition=~Q(kind="server") | (~Q(machine_name="") & Q(expires_at__isnull=False)),
                name="license_server_has_machine_name_and_date",
            ),
            models.CheckConstraint(
                condition=Q(status="revoked", revoked_at__isnull=False) | (~Q(status="revoked") & Q(revoked_at=None)),
                name="license_revoked_with_time",
            ),
            models.CheckConstraint(
                condition=~Q(status="revoked") | Q(machine__isnull=True), name="license_revoked_is_unbound"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {str(self.public_id)[:8]}"

    # What the protocol reports about a key -------------------------------------------------

    @property
    def capabilities(self) -> dict[str, bool]:
        """What the agent may do: temporary keys never save a data configuration; free-edition keys
        lack the paid features (AGENT_PROTOCOL.md, "Additions in 1.1")."""
        return {"save_data_configuration": self.kind != Kind.TEMPORARY, "paid_features": self.kind != Kind.FREE}

    @property
    def edition(self) -> str:
        if self.kind == Kind.TRIAL:
            return "trial"
        if self.kind == Kind.FREE:
            return "free"
        return self.organization.edition

    @property
    def banner(self) -> str | None:
        """The text an agent shows its users while this key is in use (``license.banner``), or None."""
        message = self.banner_message
        return None if message is None else str(message)

    @property
    def banner_message(self) -> Message | None:
        """``banner`` as a ``Message``, for an agent that asks in German and for the trial page."""
        if self.kind != Kind.TRIAL:
            return None
        if self.expires_at is None:
            return Message(
                gettext_noop(
                    "Trial license: for evaluation and stopgap use only, not for production; "
                    "paid-edition features. Renew the subscription to keep them."
                )
            )
        return Message(
            gettext_noop(
                "Trial license: for evaluation and stopgap use only, not for production; "
                "paid-edition features until %(ends)s UTC. Renew the subscription to keep them."
            ),
            {"ends": self.expires_at.astimezone(UTC)},
        )

    @property
    def effective_expires_at(self) -> datetime | None:
        """When the key stops working: its own end, or the subscription's for machine and temporary keys."""
        if self.kind == Kind.MACHINE:
            return self.organization.subscription_ends_at
        if self.kind == Kind.TEMPORARY:
            return min(self.expires_at, self.organization.subscription_ends_at)
        return self.expires_at

    @property
    def is_bindable(self) -> bool:
        return self.kind in BINDABLE_KINDS

    def state_label(self, now: datetime) -> str:
        """A short status for lists: Active, Inactive, Revoked, Expired, Subscription ended."""
        if self.status != self.Status.ACTIVE:
            return self.get_status_display()
        if self.expires_at is not None and self.expires_at <= now:
            return _("Expired")
        if self.kind in (Kind.MACHINE, Kind.TEMPORARY) and not self.organization.subscription_active(now):
            return _("Subscription ended")
        return _("Active")

    def snapshot(self) -> dict:
        return {
            "kind": self.kind,
            "status": self.status,
            "environment": self.environment.name if self.environment_id else None,
            "machine_name": self.machine_name,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "description": self.description,
            "machine": self.machine.uid if self.machine_id else None,
        }

    # The verdict ----------------------------------------------------------------------------

    def verdict_for(
        self,
        *,
        action: str,
        uid: str,
        fingerprint: Fingerprint | None,
        machine: Machine | None,
        now: datetime,
        machine_registered=None,
        recent_moves=None,
    ) -> Verdict:
        """The first failing check of the protocol's table, or VALID.

        ``machine`` is the machine known by ``uid`` (None if unknown). ``machine_registered`` and
        ``recent_moves`` are callables, asked only when the rule needs them (each costs a query).
        """
        organization = self.organization
        if self.status == self.Status.REVOKED:
            return Verdict(Code.REVOKED, gettext_noop("This license key was revoked."))
        if self.status == self.Status.INACTIVE:
            return Verdict(Code.SUSPENDED, gettext_noop("This license key is inactive."))
        if organization.is_suspended:
            message = Message(gettext_noop("The organization %(name)s is suspended."), {"name": organization.name})
            return Verdict.of(Code.SUSPENDED, message)
        if self.expires_at is not None and self.expires_at <= now:
            message = Message(
                gettext_noop("This license key expired at %(ends)s UTC."), {"ends": self.expires_at.astimezone(UTC)}
            )
            return Verdict.of(Code.EXPIRED, message)
        if self.kind in (Kind.MACHINE, Kind.TEMPORARY) and not organization.subscription_active(now):
            message = Message(gettext_noop("The subscription of %(name)s is not active."), {"name": organization.name})
            return Verdict.of(Code.SUBSCRIPTION_EXPIRED, message)
        if self.environment_id is not None and not self.environment.is_usable:
            environment = self.environment
            message = Message(
                gettext_noop("The environment %(name)s is deleted.")
                if environment.deleted_at is not None
                else gettext_noop("The environment %(name)s is disabled."),
                {"name": environment.name},
            )
            return Verdict.of(Code.ENVIRONMENT_DISABLED, message)
        if machine is not None and machine.organization_id not in (None, organization.pk):
            return Verdict(Code.ORGANIZATION_MISMATCH, ANOTHER_ORGANIZATION)
        if self.kind == Kind.TEMPORARY:
            if machine is None or machine.organization_id != organization.pk or not machine_registered(machine):
                message = Message(
                    gettext_noop("A temporary key works only on a registered machine of %(name)s."),
                    {"name": organization.name},
                )
                return Verdict.of(Code.MACHINE_NOT_REGISTERED, message)
            return self._valid(now)
        is_move = False
        if self.machine_id is None and action == Action.ACTIVATE:
            is_move = (
                self.released_by == self.Released.DEACTIVATE
                and bool(self.last_machine_uid)
                and self.last_machine_uid != uid
            )
            if is_move and recent_moves(self) >= organization.transfer_limit:
                message = Message(
                    gettext_noop("This key has moved to another machine %(count)d times in %(days)d days."),
                    {"count": organization.transfer_limit, "days": TRANSFER_WINDOW.days},
                )
                return Verdict.of(Code.TRANSFER_LIMIT, message)
        if self.machine_id is not None and self.machine.uid != uid:
            changed = changed_components(self.machine.components, fingerprint) if fingerprint else []
            return Verdict.of(Code.FINGERPRINT_MISMATCH, self._mismatch_message(fingerprint), changed=changed)
        if self.kind == Kind.SERVER and fingerprint is not None and fingerprint.hostname != self.machine_name.lower():
            message = Message(
                gettext_noop(
                    "This server key is for the computer %(key_host)s, and this computer's name is %(host)s. "
                    "Ask your administrator for a server key for %(host)s."
                ),
                {"key_host": self.machine_name, "host": fingerprint.hostname},
            )
            return Verdict.of(Code.FINGERPRINT_MISMATCH, message, changed=["hostname"])
        if self.machine_id is None and action == Action.VALIDATE:
            return Verdict(Code.NOT_ACTIVATED, gettext_noop("This license key is not activated on any machine."))
        return self._valid(now, is_move=is_move)

    def _mismatch_message(self, fingerprint: Fingerprint | None) -> Message:
        """FINGERPRINT_MISMATCH for a person: what changed, from what to what, and the next step."""
        bound = self.machine
        next_step = Message(
            gettext_noop(
                "To use the key here, deactivate it on the old machine first, or ask your administrator to "
                "detach the old machine in the portal (Machines tab)."
            )
        )
        rebind = (
            fingerprint_rebind(bound.components, fingerprint.as_components(), policy=STRICT) if fingerprint else None
        )
        hardware = [name for name in HARDWARE_COMPONENTS if rebind and name in rebind.changes]
        where = bound.hostname or bound.name
        elsewhere = (
            Message(gettext_noop("This license key is activated on another machine (%(machine)s)."), {"machine": where})
            if where
            else Message(gettext_noop("This license key is activated on another machine."))
        )
        if rebind is None or not rebind.changes:
            return Message.sentences(elsewhere, next_step)
        if len(hardware) > 1:
            return Message.sentences(elsewhere, rebind.describe_message(), next_step)
        as_it_was = Message(gettext_noop("This key is bound to the machine as it was."))
        return Message.sentences(rebind.describe_message(), as_it_was, next_step)

    def _valid(self, now: datetime, *, is_move: bool = False) -> Verdict:
        ends = self.effective_expires_at
        if ends is None:
            return Verdict(Code.VALID, LICENSE_VALID, is_move=is_move)
        if ends.tzinfo is not UTC:
            ends = ends.astimezone(UTC)
        # ``LICENSE_VALID_UNTIL`` in English, as an f-string: on every valid verdict, and building the
        # Message costs a third more (tests/api/test_languages.py checks that the two agree).
        detail = f"License valid until {ends.isoformat(' ', 'minutes')[:16]} UTC."
        return Verdict(Code.VALID, detail, is_move=is_move, valid_until=ends)


def registered_machine_filter(organization) -> Q:
    """Machines that are *registered* machines of ``organization`` (AGENT_PROTOCOL.md)."""
    holds_key = LicenseKey.objects.filter(
        machine=OuterRef("pk"), organization=organization, kind__in=BINDABLE_KINDS
    ).exclude(status=LicenseKey.Status.REVOKED)
    return Q(organization=organization) & Q(Exists(holds_key))


class ActivationEvent(models.Model):
    """A key's history: activations, re-binds, changes seen on validate, deactivations, detaches,
    revocation, and refused calls (coalesced)."""

    class Event(models.TextChoices):
        ACTIVATE = "activate", _("Activated")
        MANUAL_ACTIVATE = "manual_activate", _("Activated manually")
        REBIND = "rebind", _("Re-bound to the changed machine")
        VALIDATE = "validate", _("Validated (something changed)")
        DEACTIVATE = "deactivate", _("Deactivated by the agent")
        DETACH = "detach", _("Detached by an administrator")
        REVOKE = "revoke", _("Revoked")
        REFUSED = "refused", _("Refused")

    # "activation_license_created" (license, -created_at) serves the lookups by key. No foreign-key
    # constraint in the database: checking one locks the key's row, a logged write to a random page of
    # the largest table on every activation (bench/); instead a key is never deleted (the database
    # refuses it: migration 0006), so every row's key exists for good.
    license = models.ForeignKey(
        LicenseKey, on_delete=models.PROTECT, related_name="events", db_index=False, db_constraint=False
    )
    machine_uid = models.CharField(max_length=64, blank=True)
    event = models.CharField(max_length=16, choices=Event.choices)
    code = models.CharField(max_length=32, blank=True)
    is_move = models.BooleanField(default=False)
    detail = models.CharField(max_length=500, blank=True)
    # A refused call's row stands for every refusal of its key, machine and code in the window that
    # it opened (``settings.LICENSE_REFUSAL_HISTORY_SECONDS``); every other row for one event.
    count = models.PositiveIntegerField(default=1, db_default=1)
    actor_label = models.CharField(max_length=150, blank=True)
    ip = models.CharField(max_length=45, blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["license", "-created_at"], name="activation_license_created"),
            models.Index(fields=["license", "created_at"], condition=Q(is_move=True), name="activation_license_moves"),
        ]

    def __str__(self) -> str:
        return f"{self.get_event_display()} {self.machine_uid[:12]}"

    @classmethod
    def record(
        cls, license_key, *, event, uid, now, code="", detail="", is_move=False, actor=None, ip=""
    ) -> ActivationEvent:
        """Append a row to ``license_key``'s history. The agent API's hot path writes the same row
        with its own prepared statement (``licenses.agent_api.flow.history``)."""
        return cls.objects.create(
            license=license_key,
            machine_uid=uid,
            event=event,
            code=code,
            is_move=is_move,
            detail=detail[:500],
            actor_label=actor_label(actor),
            ip=ip,
            created_at=now,
        )


class StopgapGrant(models.Model):
    """A super-admin's permission for one more stopgap (trial) key in an organization's current
    subscription period (``licenses.stopgaps``)."""

    organization = models.ForeignKey(
        "organizations.Organization", on_delete=models.PROTECT, related_name="stopgap_grants"
    )
    granted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    granted_by_label = models.CharField(max_length=150, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "created_at"], name="stopgap_grant_org_created")]

    def __str__(self) -> str:
        return f"Stopgap grant for {self.organization} at {self.created_at:%Y-%m-%d}"


def moves_in_last_30_days(license_key: LicenseKey, now: datetime) -> int:
    return ActivationEvent.objects.filter(
        license=license_key, is_move=True, created_at__gt=now - TRANSFER_WINDOW
    ).count()


from licenses.cache_renewals import PendingCacheRenewal  # noqa: E402, F401 - a model of this app

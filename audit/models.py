"""The audit log: who changed what, when, from where. Append-only."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _


class Action(models.TextChoices):
    """Every action the log records, with the name the pages show (in the reader's language; the
    stored code stays). ``audit_record`` refuses any other, so the audit page's filter offers every
    action there is."""

    AUTH_SIGN_IN = "auth.sign_in", _("Signed in")
    AUTH_SIGN_IN_FAILED = "auth.sign_in_failed", _("Sign-in failed")
    AUTH_SIGN_IN_LOCKED = "auth.sign_in_locked", _("Sign-in locked out")
    AUTH_SECOND_FACTOR = "auth.second_factor", _("Second factor passed")
    AUTH_SECOND_FACTOR_FAILED = "auth.second_factor_failed", _("Second factor failed")
    AUTH_SSO_REFUSED = "auth.sso_refused", _("Single sign-on refused")
    AUTH_PASSWORD_RESET = "auth.password_reset", _("Password reset")
    AUTH_PASSWORD_RESET_MAILED = "auth.password_reset_mailed", _("Password reset mail sent")
    AUTH_PASSWORD_RESET_LIMITED = "auth.password_reset_limited", _("Password reset mail refused (limit)")
    ACCESS_DENIED = "access.denied", _("Access refused")
    ORGANIZATION_CREATE = "organization.create", _("Organization created")
    ORGANIZATION_UPDATE = "organization.update", _("Organization changed")
    ORGANIZATION_SUSPEND = "organization.suspend", _("Organization suspended")
    ORGANIZATION_RESUME = "organization.resume", _("Organization resumed")
    ORGANIZATION_RENEW = "organization.renew", _("Subscription renewed")
    USER_CREATE = "user.create", _("User created")
    USER_UPDATE = "user.update", _("User changed")
    USER_SET_ROLE = "user.set_role", _("User's role changed")
    USER_DEACTIVATE = "user.deactivate", _("User deactivated")
    USER_REACTIVATE = "user.reactivate", _("User reactivated")
    USER_SET_LANGUAGE = "user.set_language", _("Language chosen")
    USER_SECOND_FACTOR_ENROL = "user.second_factor_enrol", _("Second factor set up")
    USER_SECOND_FACTOR_RESET = "user.second_factor_reset", _("Second factor reset")
    USER_RECOVERY_CODES_RENEW = "user.recovery_codes_renew", _("Recovery codes renewed")
    INVITATION_CREATE = "invitation.create", _("Invitation sent")
    INVITATION_RESEND = "invitation.resend", _("Invitation sent again")
    INVITATION_CANCEL = "invitation.cancel", _("Invitation cancelled")
    INVITATION_ACCEPT = "invitation.accept", _("Invitation accepted")
    SSO_CREATE = "sso.create", _("Single sign-on set up")
    SSO_UPDATE = "sso.update", _("Single sign-on changed")
    ENVIRONMENT_CREATE = "environment.create", _("Environment created")
    ENVIRONMENT_ENABLE = "environment.enable", _("Environment enabled")
    ENVIRONMENT_DISABLE = "environment.disable", _("Environment disabled")
    ENVIRONMENT_DELETE = "environment.delete", _("Environment deleted")
    ENVIRONMENT_REATTACH = "environment.reattach", _("Environment re-attached")
    MACHINE_BIND = "machine.bind", _("Machine bound")
    MACHINE_DETACH = "machine.detach", _("Machine detached")
    MACHINE_PRIMARY = "machine.primary", _("Machine made primary")
    MACHINE_NOT_PRIMARY = "machine.not_primary", _("Machine no longer primary")
    MACHINE_CLAIM = "machine.claim", _("Machine claimed from another organization")
    MACHINE_CLAIM_RELEASE = "machine.claim_release", _("Machine released to its claimant")
    MACHINE_CLAIM_REJECT = "machine.claim_reject", _("Machine claim rejected")
    LICENSE_ISSUE = "license.issue", _("Key issued")
    LICENSE_UPDATE = "license.update", _("Key changed")
    LICENSE_REVOKE = "license.revoke", _("Key revoked")
    LICENSE_DELETE = "license.delete", _("Key deleted")
    LICENSE_REVEAL = "license.reveal", _("Key shown again")
    LICENSE_STOPGAP_GRANT = "license.stopgap_grant", _("Another stopgap key allowed")
    LICENSE_ACTIVATE = "license.activate", _("Key activated")
    LICENSE_ACTIVATE_MANUAL = "license.activate_manual", _("Key activated manually")
    LICENSE_REBIND = "license.rebind", _("Key re-bound to its upgraded or changed machine")
    LICENSE_DEACTIVATE = "license.deactivate", _("Key deactivated")
    VERDICT_CACHE_CLEAR = "verdict_cache.clear", _("Verdict cache cleared")
    SIGNING_KEY_CREATE = "signing_key.create", _("Signing key created")
    SIGNING_KEY_ROTATE = "signing_key.rotate", _("Signing key rotated")
    SIGNING_KEY_RETIRE = "signing_key.retire", _("Signing key retired")
    API_TOKEN_CREATE = "api_token.create", _("API token created")
    API_TOKEN_REVOKE = "api_token.revoke", _("API token revoked")
    WEBHOOK_CREATE = "webhook.create", _("Webhook endpoint created")
    WEBHOOK_UPDATE = "webhook.update", _("Webhook endpoint changed")
    WEBHOOK_DELETE = "webhook.delete", _("Webhook endpoint deleted")
    WEBHOOK_DISABLE = "webhook.disable", _("Webhook endpoint disabled by the portal")
    WEBHOOK_RESEND = "webhook.resend", _("Webhook delivery sent again")

    @classmethod
    def families(cls) -> list[str]:
        """``license.``, ``machine.``...: the prefixes the filter offers as "any … action"."""
        return sorted({value.split(".")[0] + "." for value in cls.values})


class AuditLogImmutable(Exception):
    """Raised on any attempt to change or delete an audit event."""


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AuditLogImmutable("audit events cannot be changed")

    def delete(self):
        raise AuditLogImmutable("audit events cannot be deleted")

    def for_organization(self, organization):
        return self.filter(organization=organization)


class AuditEvent(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_label = models.CharField(max_length=150, help_text="Who acted, as shown: a username, an agent, the CLI.")
    organization = models.ForeignKey(
        "organizations.Organization",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    action = models.CharField(max_length=64, db_index=True)  # one of Action (audit_record refuses others)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    ip = models.CharField(max_length=45, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "-created_at"], name="audit_org_created")]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action} {self.object_repr}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise AuditLogImmutable("audit events cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditLogImmutable("audit events cannot be deleted")

    @property
    def action_label(self) -> str:
        """The action's name as the pages show it ("Key revoked"); an unknown one as it is stored."""
        try:
            return str(Action(self.action).label)
        except ValueError:
            return self.action

    def object_url(self) -> str:
        """The page of the event's object, where there is one (a key, an organization, an
        environment or machine through its organization's tab); else ""."""
        organization = self.organization if self.organization_id else None
        slug = organization.slug if organization is not None else ""
        try:
            if self.object_type == "licensekey" and self.object_id:
                return reverse("license_detail", args=[self.object_id])
            if self.object_type == "organization" and slug:
                return reverse("organization_detail", args=[slug])
            if self.object_type == "environment" and slug:
                return reverse("organization_detail", args=[slug])
            if self.object_type == "machine" and slug:
                return reverse("machine_list", args=[slug]) + f"?q={self.object_id[:12]}"
        except NoReverseMatch:
            return ""
        return ""

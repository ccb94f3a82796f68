"""Everything that changes license keys: issue, edit, revoke, delete, and the agent calls.

Each function that changes state runs in one transaction and writes its audit event in it; the
heartbeat and an unchanged re-activation change nothing but "last seen" and the key's history, and
take no lock.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from audit.services import audit_record
from environments.models import Environment
from licenses import encryption, keyformat, signing, stopgaps
from licenses.bindings import key_release
from licenses.models import (
    ActivationEvent,
    Kind,
    LicenseKey,
)
from organizations.models import Organization

MIN_TTL = timedelta(minutes=1)
MAX_TTL = timedelta(days=365)
TTL_RANGE_MESSAGE = gettext_lazy("A temporary key needs a time to live between 1 minute and 365 days.")
# A server key's date: at most this many years ahead (a key meant to live longer is a subscription).
MAX_SERVER_KEY_YEARS = 100
TEMPORARY_TTL_CHOICES = [
    (timedelta(hours=1), gettext_lazy("1 hour")),
    (timedelta(hours=4), gettext_lazy("4 hours")),
    (timedelta(hours=8), gettext_lazy("8 hours")),
    (timedelta(days=1), gettext_lazy("1 day")),
    (timedelta(days=3), gettext_lazy("3 days")),
    (timedelta(days=7), gettext_lazy("7 days")),
]


_DURATION = re.compile(r"^(\d+)([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str) -> timedelta:
    """``30m``, ``2h``, ``7d``; a number too large for any time to live is refused as out of range."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ValidationError({"ttl": f"{text!r} is not a duration like 30m, 2h or 7d."})
    try:
        return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    except OverflowError:
        raise ValidationError({"ttl": TTL_RANGE_MESSAGE}) from None


def now_utc() -> datetime:
    return timezone.now()


def server_key_expires_at(expires_on: date) -> datetime:
    """A server key is valid through its date (UTC): it ends at the next day's 00:00Z."""
    return datetime.combine(expires_on + timedelta(days=1), time.min, tzinfo=UTC)


# Issue, edit, revoke, delete -------------------------------------------------------------------


@transaction.atomic
def license_issue(
    *,
    organization: Organization,
    kind: str,
    actor,
    environment: Environment | None = None,
    ttl: timedelta | None = None,
    machine_name: str = "",
    expires_on: date | None = None,
    description: str = "",
    issued_to=None,
) -> tuple[LicenseKey, str]:
    """Issue a key; return it and its text (the only time the text leaves this module unasked)."""
    now = now_utc().replace(microsecond=0)
    expires_at = None
    if kind == Kind.MACHINE:
        if environment is None or environment.organization_id != organization.pk:
            raise ValidationError({"environment": _("Choose an environment of this organization.")})
        if environment.deleted_at is not None:
            raise ValidationError(
                {"environment": _("The environment %(name)s is deleted.") % {"name": environment.name}}
            )
    elif kind == Kind.TEMPORARY:
        if ttl is None or not MIN_TTL <= ttl <= MAX_TTL:
            raise ValidationError({"ttl": TTL_RANGE_MESSAGE})
        expires_at = now + ttl
        environment = None
    elif kind == Kind.SERVER:
        machine_name = machine_name.strip()
        if not machine_name:
            raise ValidationError({"machine_name": _("A server key needs the machine name it is for.")})
        expires_at = _server_key_end(expires_on)
        environment = None
    elif kind == Kind.FREE:
        environment = None  # bound like a machine key, to the first machine that activates it; no end
    elif kind == Kind.TRIAL:
        # The organization's row is locked so that two requests at once cannot both take the one stopgap.
        stopgaps.stopgap_require(Organization.objects.select_for_update().get(pk=organization.pk))
        expires_at = now + timedelta(days=settings.LICENSE_TRIAL_DAYS)
        environment = None
    else:
        raise ValidationError({"kind": f"Unknown kind of key {kind!r}."})

    signing_key = signing.keyring().active
    text = keyformat.key_build(
        kind=kind, organization_id=organization.uuid, issued_at=now, private_key=signing_key.private_key
    )
    license_key = LicenseKey.objects.create(
        kind=kind,
        organization=organization,
        environment=environment,
        machine_name=machine_name if kind == Kind.SERVER else "",
        issued_at=now,
        expires_at=expires_at,
        description=description.strip(),
        requested_by=actor if getattr(actor, "pk", None) else None,
        issued_to=issued_to,
        digest=keyformat.key_digest(text),
        signing_kid=signing_key.kid,
        encrypted_key=encryption.encrypt(text),
    )
    audit_record(
        actor=actor, action="license.issue", organization=organization, obj=license_key, after=license_key.snapshot()
    )
    return license_key, text


@transaction.atomic
def license_update(
    *, license_key: LicenseKey, actor, description: str, status: str, expires_on: date | None
) -> LicenseKey:
    """Edit a server key: description, status (active/inactive) and expiration; never the key or machine."""
    license_key = LicenseKey.objects.select_for_update().get(pk=license_key.pk)
    if license_key.kind != Kind.SERVER:
        raise ValidationError(_("Only server access keys are edited this way."))
    if license_key.status == LicenseKey.Status.REVOKED:
        raise ValidationError(_("A revoked key cannot be edited."))
    if status not in (LicenseKey.Status.ACTIVE, LicenseKey.Status.INACTIVE):
        raise ValidationError({"status": _("Choose Active or Inactive.")})
    expires_at = _server_key_end(expires_on, current=license_key.expires_at)
    before = license_key.snapshot()
    license_key.description = description.strip()
    license_key.status = status
    license_key.expires_at = expires_at
    license_key.save(update_fields=["description", "status", "expires_at", "updated_at"])
    audit_record(
        actor=actor,
        action="license.update",
        organization=license_key.organization,
        obj=license_key,
        before=before,
        after=license_key.snapshot(),
    )
    return license_key


def _server_key_end(expires_on: date | None, *, current: datetime | None = None) -> datetime:
    """The end of a server key valid through ``expires_on``: a day is required, and it must not be
    in the past, unless it is the key's ``current`` end (a key that has already ended keeps its
    date through edits of its description or status)."""
    if expires_on is None:
        raise ValidationError({"expires_on": _("A server key needs an expiration date.")})
    today = now_utc().date()
    if expires_on.year > today.year + MAX_SERVER_KEY_YEARS:
        raise ValidationError(
            {
                "expires_on": _("The expiration date is more than %(years)d years ahead: pick an earlier day.")
                % {"years": MAX_SERVER_KEY_YEARS}
            }
        )
    expires_at = server_key_expires_at(expires_on)
    if expires_at != current and expires_on < now_utc().date():
        raise ValidationError({"expires_on": _("The expiration date is in the past.")})
    return expires_at


@transaction.atomic
def license_revoke(*, license_key: LicenseKey, actor, reason: str = "", deleting: bool = False) -> LicenseKey:
    """Revoke a key for good: it answers REVOKED everywhere and releases its machine."""
    license_key = LicenseKey.objects.select_for_update(of=("self",)).select_related("machine").get(pk=license_key.pk)
    if license_key.status == LicenseKey.Status.REVOKED and not deleting:
        raise ValidationError(_("This key is already revoked."))
    before = license_key.snapshot()
    now = now_utc()
    if license_key.status != LicenseKey.Status.REVOKED:
        if license_key.machine_id:
            key_release(license_key, released_by=LicenseKey.Released.DETACH)
        license_key.status = LicenseKey.Status.REVOKED
        license_key.revoked_at = now
        license_key.revoked_by = actor if getattr(actor, "pk", None) else None
        license_key.revocation_reason = reason.strip()[:500]
        ActivationEvent.record(
            license_key,
            event=ActivationEvent.Event.REVOKE,
            uid=license_key.last_machine_uid if before["machine"] else "",
            detail=license_key.revocation_reason,
            actor=actor,
            now=now,
        )
    if deleting:
        license_key.deleted_at = now
    license_key.save()
    audit_record(
        actor=actor,
        action="license.delete" if deleting else "license.revoke",
        organization=license_key.organization,
        obj=license_key,
        before=before,
        after={**license_key.snapshot(), "reason": license_key.revocation_reason},
    )
    return license_key


@transaction.atomic
def license_delete_many(*, license_keys: list[LicenseKey], actor) -> int:
    """Delete server keys: each is revoked (so agents holding it are refused) and hidden from lists."""
    for license_key in license_keys:
        if license_key.kind != Kind.SERVER:
            raise ValidationError(_("Only server access keys can be deleted."))
        license_revoke(license_key=license_key, actor=actor, reason="Deleted", deleting=True)
    return len(license_keys)


def license_reveal(*, license_key: LicenseKey, actor) -> str:
    """The key's text, for someone entitled to see it; the showing is itself audited."""
    text = encryption.decrypt(license_key.encrypted_key)
    audit_record(actor=actor, action="license.reveal", organization=license_key.organization, obj=license_key)
    return text


# Finding a key from its text --------------------------------------------------------------------


def digest_of(text: str) -> str | None:
    """The look-up digest of a well-formed key's text; None for anything else (never looked up)."""
    try:
        return keyformat.key_digest(keyformat.key_parse(text).text)
    except keyformat.KeyFormatError:
        return None


def license_find(text: str, *, for_update: bool = False) -> LicenseKey | None:
    """The key with this text, with its organization, environment and machine; or None (a malformed
    key is never looked up). ``for_update`` locks the key's row first, then reads it with the joins:
    a row read with its joins while waiting for the lock would come back with its new ``machine_id``
    but the joined machine as it was before."""
    digest = digest_of(text)
    if digest is None:
        return None
    keys = LicenseKey.objects.filter(digest=digest).order_by()
    if for_update:
        locked = keys.select_for_update().values_list("pk", flat=True).first()
        if locked is None:
            return None
        keys = LicenseKey.objects.filter(pk=locked)
    return keys.select_related("organization", "environment", "machine").first()

"""API tokens: create (the text is returned once), revoke, and authenticate a request's bearer token.

A token's text is ``lpat_<random>_<checksum>``: 27 base62 characters of random (160 bits) and a
6-character base62 CRC32 of them, so a secret scanner can tell a real token from a look-alike
without asking the portal. Only the SHA-256 of the text is stored: the random part's 160 bits make
a slow hash pointless, and a plain digest is looked up by an index.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.services import audit_record
from integrations.models import VENDOR_ONLY_SCOPES, APIToken, Scope
from organizations.models import Organization

PREFIX = "lpat_"
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
RANDOM_LENGTH = 27  # 62**27 > 2**160
CHECKSUM_LENGTH = 6  # 62**6 > 2**32, a CRC32 always fits
TOKEN_PATTERN = re.compile(rf"^{PREFIX}([0-9A-Za-z]{{{RANDOM_LENGTH}}})_([0-9A-Za-z]{{{CHECKSUM_LENGTH}}})$")
MAX_EXPIRY_DAYS = 3660
# "Last used" is written at most this often per token (a busy integration must not write on every call).
LAST_USED_RESOLUTION = timedelta(minutes=1)


def base62(number: int, length: int) -> str:
    digits = []
    for _position in range(length):
        number, digit = divmod(number, 62)
        digits.append(ALPHABET[digit])
    return "".join(reversed(digits))


def checksum(random_part: str) -> str:
    return base62(zlib.crc32(random_part.encode()), CHECKSUM_LENGTH)


def token_generate() -> str:
    random_part = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
    return f"{PREFIX}{random_part}_{checksum(random_part)}"


def token_well_formed(text: str) -> bool:
    """The shape and checksum are right (what a secret scanner checks; no database involved)."""
    match = TOKEN_PATTERN.match(text)
    return bool(match) and checksum(match.group(1)) == match.group(2)


def token_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# Who may hold which scopes --------------------------------------------------------------------------


def may_create_tokens(user, organization: Organization | None) -> bool:
    """Super-admins make vendor tokens (``organization`` None) and tokens of any organization; an
    organization's admin (not a co-admin) makes tokens of that organization."""
    if not user.is_active:
        return False
    if user.is_super_admin:
        return True
    return organization is not None and user.role == user.Role.ORG_ADMIN and user.organization_id == organization.pk


def scopes_allowed(user, organization: Organization | None) -> set[str]:
    """The scopes a token of ``organization`` (None: vendor-wide) made by ``user`` may have now.
    ``user`` None is the operator at the command line (``create_api_token``): the token's reach alone
    bounds it, as it bounds the operators' commands."""
    if user is None:
        return set(Scope.values) if organization is None else set(Scope.values) - VENDOR_ONLY_SCOPES
    if not may_create_tokens(user, organization):
        return set()
    if user.is_super_admin and organization is None:
        return set(Scope.values)
    return set(Scope.values) - VENDOR_ONLY_SCOPES


# Create and revoke ----------------------------------------------------------------------------------


@transaction.atomic
def api_token_create(
    *,
    actor,
    name: str,
    scopes: list[str],
    organization: Organization | None = None,
    expires_at: datetime | None = None,
    created_by=None,
) -> tuple[APIToken, str]:
    """Make a token for ``created_by`` (the acting user by default) and return it with its text,
    which is never stored or shown again. With neither (the command line) the operator makes it: it
    must expire, and its reach alone bounds its scopes (``scopes_allowed``)."""
    creator = created_by or actor
    if creator is not None and not getattr(creator, "pk", None):
        creator = None
    if creator is None and expires_at is None:
        raise ValidationError({"expires_at": _("A token made at the command line needs an expiry.")})
    name = name.strip()
    if not name:
        raise ValidationError({"name": _("A token needs a name.")})
    if len(name) > 100:
        raise ValidationError({"name": _("A token's name has at most 100 characters.")})
    if creator is not None and not may_create_tokens(creator, organization):
        raise PermissionDenied(_("Only super-admins and the organization's admins make its API tokens."))
    scopes = sorted(set(scopes))
    if not scopes:
        raise ValidationError({"scopes": _("Choose at least one scope.")})
    unknown = [scope for scope in scopes if scope not in Scope.values]
    if unknown:
        raise ValidationError({"scopes": _("Unknown scope %(scopes)s.") % {"scopes": ", ".join(unknown)}})
    refused = set(scopes) - scopes_allowed(creator, organization)
    if refused:
        raise ValidationError(
            {"scopes": _("%(scopes)s: only a vendor token may have it.") % {"scopes": ", ".join(sorted(refused))}}
        )
    now = timezone.now()
    if expires_at is not None:
        if expires_at <= now:
            raise ValidationError({"expires_at": _("The expiry is in the past.")})
        if expires_at > now + timedelta(days=MAX_EXPIRY_DAYS):
            raise ValidationError(
                {"expires_at": _("A token expires within %(days)d days.") % {"days": MAX_EXPIRY_DAYS}}
            )
    text = token_generate()
    token = APIToken.objects.create(
        name=name,
        prefix=text[: len(PREFIX) + 8],
        digest=token_digest(text),
        scopes=scopes,
        organization=organization,
        created_by=creator,
        expires_at=expires_at,
    )
    audit_record(actor=actor, action="api_token.create", organization=organization, obj=token, after=token.snapshot())
    return token, text


@transaction.atomic
def api_token_revoke(*, token: APIToken, actor) -> APIToken:
    token = APIToken.objects.select_for_update().get(pk=token.pk)
    if token.revoked_at is not None:
        raise ValidationError(_("This token is already revoked."))
    token.revoked_at = timezone.now()
    token.revoked_by = actor if getattr(actor, "pk", None) else None
    token.save(update_fields=["revoked_at", "revoked_by"])
    audit_record(
        actor=actor, action="api_token.revoke", organization=token.organization, obj=token, before=token.snapshot()
    )
    return token


# Authenticate ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """A live token as a request presents it, with the scopes it has now."""

    token: APIToken
    scopes: frozenset[str]

    @property
    def organization(self) -> Organization | None:
        return self.token.organization

    @property
    def actor(self) -> str:
        """What the audit log records as the actor of a change made with this token."""
        return self.token.actor_label

    def has(self, scope: str) -> bool:
        return scope in self.scopes

    def reaches(self, organization: Organization) -> bool:
        return self.token.organization_id is None or self.token.organization_id == organization.pk


def api_token_authenticate(text: str, *, now: datetime | None = None) -> Caller | None:
    """The caller this token text is, or None: malformed, unknown, revoked, expired, or its creator
    deactivated or no longer allowed to make it. The scopes are cut to what the creator's current
    role allows (an org admin demoted to co-admin keeps no write access through old tokens)."""
    if not token_well_formed(text):
        return None
    digest = token_digest(text)
    token = APIToken.objects.select_related("created_by", "organization").filter(digest=digest).first()
    if token is None or not hmac.compare_digest(token.digest, digest):
        return None
    now = now or timezone.now()
    if token.revoked_at is not None or (token.expires_at is not None and token.expires_at <= now):
        return None
    scopes = frozenset(token.scopes) & scopes_allowed(token.created_by, token.organization)
    if not scopes:
        return None
    if token.last_used_at is None or token.last_used_at <= now - LAST_USED_RESOLUTION:
        APIToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return Caller(token=token, scopes=scopes)


def tokens_visible_to(user, organization: Organization | None):
    """The tokens a tokens page lists: the vendor's (``organization`` None, super-admins) or one
    organization's."""
    queryset = APIToken.objects.select_related("created_by", "organization")
    if organization is None:
        return queryset.filter(organization__isnull=True) if user.is_super_admin else queryset.none()
    return queryset.filter(organization=organization)

"""Rotate the Ed25519 signing key.

1. ``rotate_signing_key`` adds a new key. It is published in the JWK Set at once and signs
   from ``--activate-in`` minutes later (default 10: longer than the JWK Set's cache time and
   the workers' 30-second keyring refresh), so agents see a key before it signs anything.
   ``--now`` activates it at once (a compromised key).
2. The old key stays published until every token it signed has expired (the lease) and no
   live license key it signed remains (agents verify keys offline against the JWK Set).
3. ``rotate_signing_key --retire-expired`` drops the keys that are past both;
   ``--retire KID`` drops one now, whatever it still vouches for.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Q

from audit.services import audit_record
from core.commands import JSONCommand
from licenses import signing
from licenses.models import LicenseKey


def live_keys_signed_by(kid: str, now: datetime) -> int:
    """License keys signed by ``kid`` that still work (not revoked or deleted, not expired)."""
    return (
        LicenseKey.objects.filter(signing_kid=kid, deleted_at__isnull=True)
        .exclude(status=LicenseKey.Status.REVOKED)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .count()
    )


class Command(JSONCommand):
    help = "Add a signing key (published now, signing after --activate-in minutes); or retire old keys."

    def add_arguments(self, parser):
        parser.add_argument("--activate-in", type=int, default=10, metavar="MINUTES")
        parser.add_argument("--now", action="store_true", help="sign with the new key at once")
        parser.add_argument("--retire-expired", action="store_true", help="drop keys nothing depends on any more")
        parser.add_argument("--retire", metavar="KID", help="drop this key now (its tokens and keys stop verifying)")

    def run(self, *, activate_in, now, retire_expired, retire, **options):
        if settings.SIGNING_KEYS:
            raise ValidationError(
                "The keyring comes from the SIGNING_KEYS variable; rotate it with SIGNING_KEYS_FILE instead."
            )
        if activate_in < 0:
            raise ValidationError("--activate-in cannot be negative.")
        path = Path(settings.SIGNING_KEYS_FILE)
        moment = datetime.now(UTC)
        current = signing.keyring_parse(path.read_text(), str(path)) if path.exists() else None
        kept: dict[str, str] = {}
        if current is None:
            if retire_expired or retire:
                raise ValidationError(f"There is no keyring at {path}.")
            key = signing.signing_key_new()
            keyring = signing.Keyring(active_kid=key.kid, keys=(key,))
            action = "signing_key.create"
        elif retire:
            if retire not in {key.kid for key in current.keys}:
                raise ValidationError(f"No signing key {retire!r} in the keyring.")
            if retire in (current.active_kid, current.active.kid):
                raise ValidationError(f"{retire} signs now or is about to: rotate first.")
            keyring = signing.Keyring(
                active_kid=current.active_kid, keys=tuple(key for key in current.keys if key.kid != retire)
            )
            action = "signing_key.retire"
        elif retire_expired:
            keep = []
            for key in current.keys:
                if key.kid in (current.active_kid, current.active.kid) or not key.retire_after:
                    keep.append(key)
                elif datetime.fromisoformat(key.retire_after) > moment:
                    keep.append(key)
                    kept[key.kid] = "its activation tokens have not all expired"
                elif live := live_keys_signed_by(key.kid, moment):
                    keep.append(key)
                    kept[key.kid] = f"it signed {live} license keys that still work"
            keyring = signing.Keyring(active_kid=current.active_kid, keys=tuple(keep))
            action = "signing_key.retire"
        else:
            retire_after = (moment + timedelta(days=settings.LICENSE_TOKEN_LEASE_DAYS, hours=1)).isoformat()
            old = tuple(
                signing.SigningKey(
                    kid=key.kid,
                    private_key=key.private_key,
                    created_at=key.created_at,
                    retire_after=key.retire_after or retire_after,
                    active_from=key.active_from,
                )
                for key in current.keys
            )
            key = signing.signing_key_new(active_from=None if now else moment + timedelta(minutes=activate_in))
            keyring = signing.Keyring(active_kid=key.kid, keys=(key, *old))
            action = "signing_key.rotate"
        signing.keyring_write(keyring, path)
        signing.keyring_reset()
        summary = {
            "signing": keyring.active.kid,
            "newest": keyring.active_kid,
            "keys": [
                {
                    "kid": key.kid,
                    "active_from": key.active_from.isoformat() if key.active_from else None,
                    "retire_after": key.retire_after,
                    **({"kept_because": kept[key.kid]} if key.kid in kept else {}),
                }
                for key in keyring.keys
            ],
        }
        audit_record(actor=None, action=action, object_type="signing_key", object_id=keyring.active_kid, after=summary)
        return summary

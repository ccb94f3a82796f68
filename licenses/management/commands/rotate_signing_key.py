"""Rotate the Ed25519 signing key: add a new key that signs from now on, keep the old one in the
JWK Set until every token it signed has expired, then retire it (``--retire-expired``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError

from audit.services import audit_record
from licenses import signing
from licensing_portal.commands import JSONCommand


class Command(JSONCommand):
    help = "Add a new signing key and make it active (or create the keyring); --retire-expired drops old keys."

    def add_arguments(self, parser):
        parser.add_argument(
            "--retire-expired",
            action="store_true",
            help="only remove keys whose tokens have all expired (their retire_after has passed)",
        )

    def run(self, *, retire_expired, **options):
        if settings.SIGNING_KEYS:
            raise ValidationError(
                "The keyring comes from the SIGNING_KEYS variable; rotate it with SIGNING_KEYS_FILE instead."
            )
        path = Path(settings.SIGNING_KEYS_FILE)
        now = datetime.now(UTC)
        if not path.exists():
            if retire_expired:
                raise ValidationError(f"There is no keyring at {path}.")
            key = signing.signing_key_new()
            keyring = signing.Keyring(active_kid=key.kid, keys=(key,))
            action = "signing_key.create"
        else:
            current = signing.keyring_parse(path.read_text(), str(path))
            if retire_expired:
                keep = tuple(
                    key
                    for key in current.keys
                    if key.kid == current.active_kid
                    or not key.retire_after
                    or datetime.fromisoformat(key.retire_after) > now
                )
                keyring = signing.Keyring(active_kid=current.active_kid, keys=keep)
                action = "signing_key.retire"
            else:
                retire_after = (now + timedelta(days=settings.LICENSE_TOKEN_LEASE_DAYS, hours=1)).isoformat()
                old = tuple(
                    signing.SigningKey(
                        kid=key.kid,
                        private_key=key.private_key,
                        created_at=key.created_at,
                        retire_after=key.retire_after or retire_after,
                    )
                    for key in current.keys
                )
                key = signing.signing_key_new()
                keyring = signing.Keyring(active_kid=key.kid, keys=(key, *old))
                action = "signing_key.rotate"
        signing.keyring_write(keyring, path)
        signing.keyring_reset()
        summary = {
            "active": keyring.active_kid,
            "keys": [{"kid": key.kid, "retire_after": key.retire_after} for key in keyring.keys],
        }
        audit_record(actor=None, action=action, object_type="signing_key", object_id=keyring.active_kid, after=summary)
        return summary

"""The portal's Ed25519 signing keyring: license keys, activation tokens, verdicts.

The keyring lives outside the database and the repository: in the variable
``SIGNING_KEYS`` (JSON) or the file ``SIGNING_KEYS_FILE``. It holds every
key still published in the JWK Set; one of them (``active``) signs. See
``manage.py rotate_signing_key`` for rotation.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

import nacl.bindings
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: Ed25519PrivateKey
    created_at: str
    retire_after: str | None = None
    active_from: datetime | None = None  # published at once, signs only from then on

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    def sign(self, message: bytes) -> bytes:
        """The Ed25519 signature of ``message``, made by libsodium: Ed25519 signatures are
        deterministic (RFC 8032), so it is byte for byte the one ``private_key.sign`` makes, for
        about a third less CPU; every verdict the agent API answers is signed, an activation twice."""
        return nacl.bindings.crypto_sign(message, self._sodium_secret_key)[: nacl.bindings.crypto_sign_BYTES]

    @cached_property
    def _sodium_secret_key(self) -> bytes:
        seed = self.private_key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        return nacl.bindings.crypto_sign_seed_keypair(seed)[1]

    @cached_property
    def jws_header(self) -> str:
        """The encoded JOSE header of the tokens this key signs."""
        return b64url(json.dumps({"alg": "EdDSA", "typ": "JWT", "kid": self.kid}, separators=(",", ":")).encode())

    def public_bytes(self) -> bytes:
        return self.public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def jwk(self) -> dict[str, str]:
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": b64url(self.public_bytes()),
            "kid": self.kid,
            "alg": "EdDSA",
            "use": "sig",
        }

    def as_json(self) -> dict:
        raw = self.private_key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        return {
            "kid": self.kid,
            "private_key": b64url(raw),
            "created_at": self.created_at,
            "retire_after": self.retire_after,
            "active_from": self.active_from.isoformat() if self.active_from else None,
        }


@dataclass(frozen=True)
class Keyring:
    active_kid: str
    keys: tuple[SigningKey, ...]

    @property
    def active(self) -> SigningKey:
        """The key that signs now: the newest key, once its ``active_from`` has come; until then
        the one it replaces (so that every agent has seen the new key in the JWK Set first)."""
        settled_at = self._settled_at
        if settled_at is None or time.time() >= settled_at:  # every verdict asks, twice per activation
            return self._newest
        now = datetime.now(UTC)
        ready = [key for key in self.keys if key.active_from is None or key.active_from <= now]
        return max(ready, key=lambda key: key.created_at) if ready else self._newest

    @cached_property
    def _newest(self) -> SigningKey:
        return next(key for key in self.keys if key.kid == self.active_kid)

    @cached_property
    def _settled_at(self) -> float | None:
        """When the newest key's ``active_from`` comes (epoch seconds; None if it has none): from then
        on it is the active key for good."""
        return self._newest.active_from.timestamp() if self._newest.active_from else None

    def public_keys(self) -> list[Ed25519PublicKey]:
        return [key.public_key for key in self.keys]

    def jwks(self) -> dict:
        return {"keys": [key.jwk() for key in self.keys]}

    def as_json(self) -> dict:
        return {"active": self.active_kid, "keys": [key.as_json() for key in self.keys]}


def signing_key_new(*, active_from: datetime | None = None) -> SigningKey:
    now = datetime.now(UTC)
    kid = f"{now:%Y%m%d}-{secrets.token_hex(4)}"
    return SigningKey(
        kid=kid, private_key=Ed25519PrivateKey.generate(), created_at=now.isoformat(), active_from=active_from
    )


def keyring_parse(text: str, source: str) -> Keyring:
    try:
        data = json.loads(text)
        keys = tuple(
            SigningKey(
                kid=str(item["kid"]),
                private_key=Ed25519PrivateKey.from_private_bytes(b64url_decode(item["private_key"])),
                created_at=str(item.get("created_at", "")),
                retire_after=item.get("retire_after"),
                active_from=datetime.fromisoformat(item["active_from"]) if item.get("active_from") else None,
            )
            for item in data["keys"]
        )
        active = str(data["active"])
    except (ValueError, KeyError, TypeError) as error:
        raise ImproperlyConfigured(f"The signing keyring in {source} is not valid: {error}") from error
    if not keys or active not in {key.kid for key in keys}:
        raise ImproperlyConfigured(f"The signing keyring in {source} has no active key {active!r}")
    return Keyring(active_kid=active, keys=keys)


def keyring_write(keyring: Keyring, path: Path, *, exclusive: bool = False) -> bool:
    """Write the keyring file atomically, readable by its owner only.

    ``exclusive``: only if no keyring exists yet (another process may be creating one at the same
    moment: exactly one wins); returns whether this call wrote it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".signing-keys-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(keyring.as_json(), handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        if not exclusive:
            os.replace(temporary, path)
            return True
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        return True
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


_lock = threading.Lock()
_cache: dict[str, object] = {}
_RELOAD_SECONDS = 30


def _load() -> Keyring:
    inline = settings.SIGNING_KEYS
    if inline:
        return keyring_parse(inline, "SIGNING_KEYS")
    path = Path(settings.SIGNING_KEYS_FILE)
    if not path.exists():
        if not settings.AUTO_CREATE_SECRETS:
            raise ImproperlyConfigured(
                f"No signing keyring: set SIGNING_KEYS or SIGNING_KEYS_FILE ({path} does not exist). "
                "Create one with `python manage.py rotate_signing_key`."
            )
        if keyring_write(Keyring(active_kid=(key := signing_key_new()).kid, keys=(key,)), path, exclusive=True):
            print(f"Created a new signing keyring in {path} (keep it secret, back it up).", file=sys.stderr)
    return keyring_parse(path.read_text(), str(path))


def keyring() -> Keyring:
    """The current keyring, re-read from its file at most every 30 seconds."""
    now = time.monotonic()
    cached = _cache.get("keyring")
    if cached is not None and now - _cache["loaded"] < _RELOAD_SECONDS:
        return cached
    with _lock:
        path = Path(settings.SIGNING_KEYS_FILE)
        mtime = path.stat().st_mtime if not settings.SIGNING_KEYS and path.exists() else None
        if cached is None or mtime != _cache.get("mtime"):
            _cache["keyring"] = _load()
            _cache["mtime"] = path.stat().st_mtime if not settings.SIGNING_KEYS and path.exists() else None
        _cache["loaded"] = now
        return _cache["keyring"]


def keyring_reset() -> None:
    """Forget the cached keyring (after a rotation, and in tests)."""
    _cache.clear()


# Built once: ``json.dumps`` with any option but the defaults builds a new encoder on every call.
_CLAIMS_JSON = json.JSONEncoder(separators=(",", ":"), sort_keys=True)


def jws_sign(claims: dict) -> str:
    """A compact JWS (EdDSA) of ``claims``, signed with the active key."""
    key = keyring().active
    signing_input = key.jws_header + "." + b64url(_CLAIMS_JSON.encode(claims).encode())
    return signing_input + "." + b64url(key.sign(signing_input.encode("ascii")))


def signature_header(body: bytes) -> str:
    """The ``License-Signature`` header value for a verdict body."""
    key = keyring().active
    return f'kid="{key.kid}", sig="{b64url(key.sign(body))}"'

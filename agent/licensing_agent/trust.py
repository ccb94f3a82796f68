"""The portal's public keys this agent trusts (a pinned JWK Set), and verdict signatures.

Trust rule (see README): the first contact with a portal, or an explicit ``pin``, pins the JWK
Set served at ``{portal}/api/v1/jwks``. Afterwards, a key the agent has not pinned is fetched
again only from that same portal URL, and accepted automatically only when that URL is
``https`` (TLS vouches for the portal) or a loopback address; for any other portal the
operator pins again by hand (``pin``, or ``pin --jwks-file`` from a trusted copy).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

_SIGNATURE_PARAM = re.compile(r'\s*([A-Za-z]+)\s*=\s*"([^"]*)"\s*(?:,|$)')


class TrustError(ValueError):
    """A JWK Set, token or signature that cannot be trusted; the message says why."""


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Base64url without padding, strictly (no other alphabet, no stray characters)."""
    if not isinstance(text, str) or not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise TrustError("not base64url text")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as error:
        raise TrustError("not base64url text") from error


def jwk_public_key(jwk: Mapping) -> Ed25519PublicKey:
    """The Ed25519 public key of an ``OKP``/``Ed25519`` JWK (RFC 8037)."""
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise TrustError(f"key {jwk.get('kid')!r} is not an Ed25519 OKP key")
    raw = b64url_decode(jwk.get("x", ""))
    if len(raw) != 32:
        raise TrustError(f"key {jwk.get('kid')!r} has no 32-byte x")
    return Ed25519PublicKey.from_public_bytes(raw)


@dataclass(frozen=True)
class KeySet:
    """Public keys by ``kid``, with the JWKs they came from (so they can be stored again)."""

    jwks: tuple[dict, ...] = ()

    @classmethod
    def from_jwks(cls, document: object) -> KeySet:
        """Read a JWK Set document; keep its Ed25519 signing keys, refuse a set with none."""
        if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
            raise TrustError('a JWK Set is an object with a "keys" list')
        kept: dict[str, dict] = {}
        for jwk in document["keys"]:
            if not isinstance(jwk, Mapping) or not isinstance(jwk.get("kid"), str):
                continue
            if jwk.get("use", "sig") != "sig" or jwk.get("alg", "EdDSA") != "EdDSA":
                continue
            try:
                jwk_public_key(jwk)
            except TrustError:
                continue
            kept[jwk["kid"]] = {
                name: jwk[name] for name in ("kty", "crv", "x", "kid", "alg", "use") if name in jwk
            }
        if not kept:
            raise TrustError("the JWK Set has no Ed25519 signing key")
        return cls(jwks=tuple(kept.values()))

    def as_jwks(self) -> dict:
        return {"keys": [dict(jwk) for jwk in self.jwks]}

    @property
    def kids(self) -> list[str]:
        return [jwk["kid"] for jwk in self.jwks]

    def get(self, kid: str) -> Ed25519PublicKey | None:
        for jwk in self.jwks:
            if jwk["kid"] == kid:
                return jwk_public_key(jwk)
        return None

    def public_keys(self) -> list[Ed25519PublicKey]:
        return [jwk_public_key(jwk) for jwk in self.jwks]

    def __bool__(self) -> bool:
        return bool(self.jwks)

    def __contains__(self, kid: object) -> bool:
        return kid in self.kids


def parse_signature_header(value: str) -> tuple[str, bytes]:
    """``kid="<kid>", sig="<base64url>"`` -> (kid, signature bytes); any order, nothing else."""
    if not value:
        raise TrustError("the verdict has no License-Signature header")
    params: dict[str, str] = {}
    position = 0
    while position < len(value):
        match = _SIGNATURE_PARAM.match(value, position)
        if not match or match.end() == position:
            raise TrustError("the License-Signature header is not well formed")
        params[match.group(1).lower()] = match.group(2)
        position = match.end()
    if "kid" not in params or "sig" not in params:
        raise TrustError("the License-Signature header needs kid and sig")
    signature = b64url_decode(params["sig"])
    if len(signature) != 64:
        raise TrustError("the License-Signature is not an Ed25519 signature")
    return params["kid"], signature


def verify_signature(public_key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        public_key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


def may_refresh_keys(pinned_url: str | None, portal_url: str) -> bool:
    """Whether keys fetched from ``portal_url`` may be added without the operator (trust rule)."""
    if not pinned_url or normalize_portal_url(pinned_url) != normalize_portal_url(portal_url):
        return False
    parts = urlsplit(portal_url)
    if parts.scheme == "https":
        return True
    host = parts.hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalize_portal_url(url: str) -> str:
    """``https://Portal.example.com/`` -> ``https://portal.example.com`` (scheme and host lower-cased)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise TrustError(f"the portal URL must start with http:// or https://, not {url!r}")
    return f"{parts.scheme}://{parts.netloc.lower()}{parts.path.rstrip('/')}"

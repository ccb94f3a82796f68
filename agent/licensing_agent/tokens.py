"""Activation tokens: compact JWS (EdDSA) verified offline against the pinned keys.

The same token is the manual-activation code. Claims (AGENT_PROTOCOL.md, "Activation token"):
``iss sub iat nbf exp machine_uid org kind edition environment capabilities``; the header names
the signing key's ``kid``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from .trust import KeySet, TrustError, b64url_decode, verify_signature

REQUIRED_CLAIMS = ("sub", "iat", "nbf", "exp", "machine_uid", "org", "kind")
#: How far a token's ``nbf``/``iat`` may be ahead of the local clock (clocks differ a little).
CLOCK_LEEWAY = timedelta(minutes=5)


class TokenError(TrustError):
    """A token that is not well formed, not signed by a trusted key, or not for this machine now.

    ``code``: ``TOKEN_INVALID``, ``TOKEN_UNKNOWN_KEY``, ``TOKEN_OTHER_MACHINE``, ``TOKEN_NOT_YET_VALID``
    or ``TOKEN_EXPIRED``.
    """

    def __init__(self, message: str, code: str = "TOKEN_INVALID") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ActivationToken:
    """A token whose signature and claims were checked; ``text`` is what to store."""

    text: str
    kid: str
    claims: dict = field(repr=False)

    @property
    def license_id(self) -> str:
        return str(self.claims["sub"])

    @property
    def machine_uid(self) -> str:
        return str(self.claims["machine_uid"])

    @property
    def organization_id(self) -> str:
        return str(self.claims["org"])

    @property
    def kind(self) -> str:
        return str(self.claims["kind"])

    @property
    def edition(self) -> str | None:
        return self.claims.get("edition")

    @property
    def environment(self) -> str | None:
        return self.claims.get("environment")

    @property
    def capabilities(self) -> dict:
        capabilities = self.claims.get("capabilities")
        return dict(capabilities) if isinstance(capabilities, dict) else {}

    @property
    def expires_at(self) -> datetime:
        return datetime.fromtimestamp(self.claims["exp"], tz=UTC)

    @property
    def issued_at(self) -> datetime:
        return datetime.fromtimestamp(self.claims["iat"], tz=UTC)


def token_kid(text: str) -> str:
    """The ``kid`` in a token's header, read without verifying anything (to know which key to fetch)."""
    header, _payload, _signature = _split(text)
    return header["kid"]


def _split(text: str) -> tuple[dict, dict, bytes]:
    if not isinstance(text, str):
        raise TokenError("an activation token is text")
    parts = text.strip().split(".")
    if len(parts) != 3:
        raise TokenError("an activation token has three dot-separated parts (a compact JWS)")
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
        signature = b64url_decode(parts[2])
    except (TrustError, ValueError) as error:
        raise TokenError("the activation token is not well formed (base64url JSON)") from error
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise TokenError("the activation token's header and claims must be JSON objects")
    if header.get("alg") != "EdDSA":
        raise TokenError(f"the activation token's algorithm must be EdDSA, not {header.get('alg')!r}")
    if not isinstance(header.get("kid"), str):
        raise TokenError("the activation token's header names no kid")
    return header, claims, signature


def verify_token(
    text: str,
    keys: KeySet,
    *,
    machine_uid: str | None,
    now: datetime,
    leeway: timedelta = CLOCK_LEEWAY,
) -> ActivationToken:
    """Check signature (pinned key named by ``kid``), claims, machine UID and time; raise TokenError."""
    header, claims, signature = _split(text)
    text = text.strip()
    public_key = keys.get(header["kid"])
    if public_key is None:
        raise TokenError(
            f"the activation token is signed with key {header['kid']!r}, which this agent does not trust",
            "TOKEN_UNKNOWN_KEY",
        )
    signing_input = text.rsplit(".", 1)[0].encode("ascii")
    if not verify_signature(public_key, signature, signing_input):
        raise TokenError("the activation token's signature does not hold: it was altered or forged")
    missing = [name for name in REQUIRED_CLAIMS if name not in claims]
    if missing:
        raise TokenError(f"the activation token lacks the claims {', '.join(missing)}")
    for name in ("iat", "nbf", "exp"):
        if not isinstance(claims[name], int | float) or isinstance(claims[name], bool):
            raise TokenError(f"the activation token's {name} is not a number")
    if machine_uid is not None and claims["machine_uid"] != machine_uid:
        raise TokenError(
            "the activation token was issued for another machine (its machine UID differs)",
            "TOKEN_OTHER_MACHINE",
        )
    timestamp = now.timestamp()
    if timestamp + leeway.total_seconds() < claims["nbf"]:
        raise TokenError(
            "the activation token is not valid yet (check this machine's clock)", "TOKEN_NOT_YET_VALID"
        )
    if timestamp >= claims["exp"]:
        raise TokenError("the activation token has expired", "TOKEN_EXPIRED")
    return ActivationToken(text=text, kid=header["kid"], claims=claims)

"""What the agent answers: ``Status`` (may the product run?) and ``KeyReport`` (``inspect``).

``Status.code`` says why: a verdict code (``VALID``, ``REVOKED``...) when the portal answered,
else an offline code (``offline.py``: ``TOKEN_VALID``, ``GRACE_PERIOD``, ``CLOCK_SET_BACK``...).
``Status.connection`` says how the agent knows: ``portal`` (a trusted verdict), ``unreachable``
(no answer), ``untrusted`` (an answer whose signature or nonce failed: ignored) or ``offline``
(the agent did not ask).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .client import Verdict
from .keys import LicenseKey
from .state import format_time
from .tokens import ActivationToken


@dataclass(frozen=True)
class Status:
    """The agent's answer to "may the product run now?"."""

    licensed: bool
    code: str
    detail: str
    connection: str  # "portal", "unreachable", "untrusted" or "offline" (not asked)
    machine_uid: str
    verdict: Verdict | None = None
    token: ActivationToken | None = None
    warnings: tuple[str, ...] = ()
    grace_ends_at: datetime | None = None
    saved_banner: str | None = None  # offline: the banner of the last trusted verdict

    @property
    def untrusted(self) -> bool:
        """An answer came but its signature or nonce did not hold: it was ignored."""
        return self.connection == "untrusted"

    @property
    def capabilities(self) -> dict:
        if self.verdict is not None and self.verdict.valid:
            return self.verdict.capabilities
        return self.token.capabilities if self.token is not None else {}

    @property
    def banner(self) -> str | None:
        """The portal's text for the users of this key (trial keys), while it is in use."""
        if self.verdict is not None:
            return self.verdict.banner if self.verdict.valid else None
        return self.saved_banner if self.licensed else None

    @property
    def expires_at(self) -> datetime | None:
        if self.verdict is not None:
            return self.verdict.expires_at
        return self.token.expires_at if self.token is not None else self.grace_ends_at

    @property
    def changed(self) -> tuple[str, ...]:
        return self.verdict.changed if self.verdict is not None else ()

    def as_json(self) -> dict:
        token = self.token
        return {
            "licensed": self.licensed,
            "code": self.code,
            "detail": self.detail,
            "connection": self.connection,
            "machine_uid": self.machine_uid,
            "capabilities": self.capabilities,
            "banner": self.banner,
            "expires_at": format_time(self.expires_at) if self.expires_at else None,
            "changed": list(self.changed),
            "verdict": self.verdict.summary() if self.verdict is not None else None,
            "token": None
            if token is None
            else {
                "license_id": token.license_id,
                "organization": token.organization_id,
                "kind": token.kind,
                "edition": token.edition,
                "environment": token.environment,
                "expires_at": format_time(token.expires_at),
                "kid": token.kid,
            },
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class KeyReport:
    """What ``inspect`` reads from a key without the network."""

    text: str
    well_formed: bool
    checksum_valid: bool
    problem: str | None = None
    key: LicenseKey | None = None
    signature_valid: bool | None = None  # None: no pinned keys to check it with

    def as_json(self) -> dict:
        key = self.key
        return {
            "well_formed": self.well_formed,
            "checksum_valid": self.checksum_valid,
            "problem": self.problem,
            "kind": key.kind if key else None,
            "organization": str(key.organization_id) if key else None,
            "issued_at": format_time(key.issued_at) if key else None,
            "signature_valid": self.signature_valid,
        }

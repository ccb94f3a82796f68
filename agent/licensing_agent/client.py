"""Talking to the portal: ``activate``, ``validate``, ``deactivate`` and the JWK Set, with urllib.

Every call sends a fresh nonce. A verdict counts only if its ``License-Signature`` holds over
the exact body bytes with a trusted key and it echoes the nonce; otherwise the call raises
``UntrustedAnswer`` (a forged, altered or replayed answer is no answer at all). 429 and 503 are
retried with back-off, honouring ``Retry-After``.
"""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import json
import random
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from .fingerprint import Fingerprint
from .state import parse_time
from .trust import KeySet, TrustError, normalize_portal_url, parse_signature_header, verify_signature

USER_AGENT = "licensing-agent/1"
MAX_BODY = 1 << 20


class PortalError(Exception):
    """No verdict: the portal could not be reached or answered something other than a verdict."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class PortalUnreachable(PortalError):
    """No connection, a timeout, or still 429/503 after the retries."""


class UntrustedAnswer(PortalError):
    """An answer whose signature or nonce does not hold: forged, altered or replayed. Never VALID."""


class UnknownSigningKey(UntrustedAnswer):
    """A signature by a key the agent has not pinned (perhaps after a rotation: fetch the JWK Set)."""

    def __init__(self, message: str, *, kid: str) -> None:
        super().__init__(message)
        self.kid = kid


@dataclass(frozen=True)
class Verdict:
    """A trusted verdict of the portal (AGENT_PROTOCOL.md, "Conventions")."""

    code: str
    valid: bool
    detail: str
    time: datetime | None
    nonce: str | None
    license_id: str | None = None
    kind: str | None = None
    edition: str | None = None
    organization: dict | None = None  # {"id": ..., "name": ...}
    environment: str | None = None
    expires_at: datetime | None = None
    capabilities: dict = field(default_factory=dict)
    banner: str | None = None  # a text to show the agent's users while the key is in use (1.1)
    changed: tuple[str, ...] = ()
    machine_uid: str | None = None
    activation: str | None = None  # the activation token, on a successful activate only
    kid: str | None = None  # the key that signed it
    body: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_body(cls, body: dict, *, kid: str | None = None) -> Verdict:
        license_ = body.get("license") if isinstance(body.get("license"), dict) else {}
        machine = body.get("machine") if isinstance(body.get("machine"), dict) else {}
        changed = body.get("changed") if isinstance(body.get("changed"), list) else []
        capabilities = license_.get("capabilities")
        organization = license_.get("organization")
        return cls(
            code=str(body["code"]),
            valid=body["valid"] is True,
            detail=str(body.get("detail") or ""),
            time=parse_time(body.get("time")),
            nonce=body.get("nonce"),
            license_id=license_.get("id"),
            kind=license_.get("kind"),
            edition=license_.get("edition"),
            organization=dict(organization) if isinstance(organization, dict) else None,
            environment=license_.get("environment"),
            expires_at=parse_time(license_.get("expires_at")),
            capabilities=dict(capabilities) if isinstance(capabilities, dict) else {},
            banner=license_.get("banner") if isinstance(license_.get("banner"), str) else None,
            changed=tuple(str(name) for name in changed),
            machine_uid=machine.get("uid"),
            activation=body.get("activation") if isinstance(body.get("activation"), str) else None,
            kid=kid,
            body=body,
        )

    def summary(self) -> dict:
        """What the agent keeps of it in its state file (and prints with ``--json``)."""
        return {
            "code": self.code,
            "valid": self.valid,
            "detail": self.detail,
            "time": _rfc3339(self.time),
            "license_id": self.license_id,
            "kind": self.kind,
            "edition": self.edition,
            "organization": self.organization,
            "environment": self.environment,
            "expires_at": _rfc3339(self.expires_at),
            "capabilities": self.capabilities,
            "banner": self.banner,
            "changed": list(self.changed),
            "machine_uid": self.machine_uid,
        }


def _rfc3339(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def key_digest(license_key: str) -> str:
    """``license.key_digest`` of a verdict about this key: the hex SHA-256 of its stripped text."""
    return hashlib.sha256(license_key.strip().encode("utf-8")).hexdigest()


def new_nonce() -> str:
    """32 random base64url characters (the protocol allows 1 to 64 of ``[A-Za-z0-9_-]``)."""
    return secrets.token_urlsafe(24)


class PortalClient:
    """One portal.

    ``keys`` returns the trusted keys; ``refresh_keys(kid)``, if given, is asked once when a verdict
    names a key not among them, and returns whether it now is (the agent's trust rule decides).
    """

    def __init__(
        self,
        portal_url: str,
        *,
        keys: Callable[[], KeySet],
        refresh_keys: Callable[[str], bool] | None = None,
        timeout: float = 10.0,
        max_attempts: int = 4,
        network_attempts: int = 2,
        backoff: float = 0.5,
        max_wait: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        nonce: Callable[[], str] = new_nonce,
        language: str | None = None,
    ) -> None:
        self.portal_url = normalize_portal_url(portal_url)
        self.keys = keys
        self.refresh_keys = refresh_keys
        self.timeout = timeout
        self.max_attempts = max(1, max_attempts)
        self.network_attempts = max(1, network_attempts)
        self.backoff = backoff
        self.max_wait = max_wait
        self.sleep = sleep
        self.nonce = nonce
        self.language = language  # sent as Accept-Language: the portal's texts follow it (en, de)

    # --- the three calls ---------------------------------------------------------------------

    def activate(
        self, license_key: str, fingerprint: Fingerprint, *, machine_name: str | None = None
    ) -> Verdict:
        payload = {"license_key": license_key, "fingerprint": fingerprint.as_request()}
        if machine_name:
            payload["machine_name"] = machine_name
        return self._verdict("activate", payload, fingerprint.uid)

    def validate(self, license_key: str, fingerprint: Fingerprint) -> Verdict:
        return self._verdict(
            "validate",
            {"license_key": license_key, "fingerprint": fingerprint.as_request()},
            fingerprint.uid,
        )

    def deactivate(self, license_key: str, fingerprint: Fingerprint) -> Verdict:
        return self._verdict(
            "deactivate",
            {"license_key": license_key, "fingerprint": fingerprint.as_request()},
            fingerprint.uid,
        )

    def fetch_jwks(self) -> KeySet:
        """GET ``{portal}/api/v1/jwks``: the portal's current public keys (not yet trusted by this call)."""
        status, _headers, body = self._request("GET", "/api/v1/jwks", None)
        if status != 200:
            raise PortalError(f"the portal answered HTTP {status} for its JWK Set", status=status)
        try:
            return KeySet.from_jwks(json.loads(body))
        except (ValueError, TrustError) as error:
            raise PortalError(f"the portal's JWK Set is not usable: {error}") from error

    # --- internals ---------------------------------------------------------------------------

    def _verdict(self, endpoint: str, payload: dict, machine_uid: str) -> Verdict:
        nonce = self.nonce()
        payload["nonce"] = nonce
        status, headers, body = self._request("POST", f"/api/v1/{endpoint}", payload)
        if status != 200:
            raise _error_from(status, body)
        return self.check_verdict(
            body,
            headers.get("License-Signature"),
            nonce,
            key_digest=key_digest(payload["license_key"]),
            machine_uid=machine_uid,
        )

    def check_verdict(
        self,
        body: bytes,
        signature_header: str | None,
        nonce: str,
        *,
        key_digest: str | None = None,
        machine_uid: str | None = None,
    ) -> Verdict:
        """Trust the body only if a trusted key signed these exact bytes, it echoes ``nonce``,
        and it is about this agent's key and machine (AGENT_PROTOCOL.md 1.1): ``license.key_digest``
        is ``key_digest`` whenever the verdict names a license, and a ``VALID`` verdict's
        ``machine.uid`` is ``machine_uid``. A relay can forward the agent's nonce to the real portal
        with another key or another machine's fingerprint; its signed answer is no answer here."""
        try:
            kid, signature = parse_signature_header(signature_header or "")
        except TrustError as error:
            raise UntrustedAnswer(f"untrusted answer: {error}") from error
        public_key = self.keys().get(kid)
        if public_key is None and self.refresh_keys is not None and self.refresh_keys(kid):
            public_key = self.keys().get(kid)
        if public_key is None:
            raise UnknownSigningKey(
                f"untrusted answer: signed with key {kid!r}, which this agent does not trust", kid=kid
            )
        if not verify_signature(public_key, signature, body):
            raise UntrustedAnswer(
                "untrusted answer: the verdict's signature does not hold (forged or altered)"
            )
        try:
            data = json.loads(body)
        except ValueError as error:
            raise UntrustedAnswer("untrusted answer: the signed body is not JSON") from error
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("code"), str)
            or not isinstance(data.get("valid"), bool)
        ):
            raise UntrustedAnswer("untrusted answer: the signed body is not a verdict")
        if data.get("nonce") != nonce:
            raise UntrustedAnswer(
                "untrusted answer: the verdict does not echo this request's nonce (a replay)"
            )
        if data["valid"] != (data["code"] == "VALID"):
            raise UntrustedAnswer("untrusted answer: the verdict's valid and code disagree")
        license_ = data.get("license")
        if key_digest is not None and license_ is not None:
            named = license_.get("key_digest") if isinstance(license_, dict) else None
            if not isinstance(named, str) or not hmac.compare_digest(named, key_digest):
                raise UntrustedAnswer("untrusted answer: the verdict is about another license key (a relay?)")
        if machine_uid is not None and data["valid"]:
            machine = data.get("machine")
            if not isinstance(machine, dict) or machine.get("uid") != machine_uid:
                raise UntrustedAnswer("untrusted answer: the verdict is about another machine (a relay?)")
        return Verdict.from_body(data, kid=kid)

    def _request(self, method: str, path: str, payload: dict | None) -> tuple[int, dict, bytes]:
        """One HTTP exchange; (status, headers, body).

        429 and 503 are retried up to ``max_attempts`` times, after ``Retry-After`` (capped at
        ``max_wait``) or an exponential back-off; a refused or reset connection is retried up to
        ``network_attempts`` times in all; a timeout is not retried.
        """
        data = None if payload is None else json.dumps(payload, separators=(",", ":")).encode("utf-8")
        last_error = "no attempt made"
        network_failures = 0
        for attempt in range(1, self.max_attempts + 1):
            request = urllib.request.Request(self.portal_url + path, data=data, method=method)
            request.add_header("Accept", "application/json")
            request.add_header("User-Agent", USER_AGENT)
            if self.language:
                request.add_header("Accept-Language", self.language)
            if data is not None:
                request.add_header("Content-Type", "application/json")
            retry_after: float | None = None
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return response.status, _headers(response.headers), response.read(MAX_BODY + 1)[:MAX_BODY]
            except urllib.error.HTTPError as error:
                body = error.read(MAX_BODY)
                if error.code not in (429, 503):
                    return error.code, _headers(error.headers), body
                last_error = f"the portal answered HTTP {error.code}"
                retry_after = parse_retry_after(error.headers.get("Retry-After"))
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as error:
                reason = getattr(error, "reason", error)
                last_error = f"cannot reach the portal at {self.portal_url}: {reason}"
                network_failures += 1
                if network_failures >= self.network_attempts or isinstance(reason, TimeoutError):
                    break  # offline is the common case: decide quickly (a timeout already waited)
            if attempt < self.max_attempts:
                wait = retry_after if retry_after is not None else self.backoff * 2 ** (attempt - 1)
                self.sleep(min(self.max_wait, wait) + (random.uniform(0, 0.1) if retry_after is None else 0))
        raise PortalUnreachable(last_error)


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After``: seconds, or an HTTP date; None if absent or nonsense."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def _headers(message) -> dict:
    return {name.title(): value for name, value in (message.items() if message is not None else [])}


def _error_from(status: int, body: bytes) -> PortalError:
    code = detail = None
    try:
        error = json.loads(body).get("error", {})
        code, detail = error.get("code"), error.get("detail")
    except (ValueError, AttributeError):
        pass
    return PortalError(
        f"the portal answered HTTP {status} {code or ''}: {detail or 'no verdict'}".replace("  ", " "),
        status=status,
        code=code,
    )

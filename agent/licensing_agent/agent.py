"""``Agent``: what a licensed product calls. Online calls, the offline rules, the state file.

Every answer is a ``Status`` (``results.py``). An ``untrusted`` answer (forged, altered,
replayed) counts as no answer: the offline rules (``offline.py``) decide.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from . import fingerprint as fingerprints
from .client import PortalClient, PortalError, PortalUnreachable, UntrustedAnswer, Verdict
from .keys import KeyFormatError, checksum, parse_key
from .offline import CLOCK_TOLERANCE, clock_set_back, decide
from .results import KeyReport, Status
from .state import State, StateFile, default_state_path, format_time
from .tokens import ActivationToken, TokenError, token_kid, verify_token
from .trust import KeySet, TrustError, may_refresh_keys, normalize_portal_url


class AgentError(Exception):
    """The agent cannot do what was asked (no portal URL, no key, nothing pinned...): a usage problem."""


class Agent:
    """One product install: its fingerprint, its state file and (optionally) its portal.

    ``mac``, ``cpu_id`` and ``hostname`` override what is read from the machine; ``clock``
    returns the current aware UTC time (tests move it). Thread-safe: a ``Heartbeat`` may call
    ``validate`` while the product calls ``status``.
    """

    def __init__(
        self,
        *,
        product_version: str | None = None,
        portal_url: str | None = None,
        state_path: str | os.PathLike[str] | None = None,
        mac: str | None = None,
        cpu_id: str | None = None,
        hostname: str | None = None,
        clock: Callable[[], datetime] | None = None,
        clock_tolerance=CLOCK_TOLERANCE,
        timeout: float = 10.0,
        max_attempts: int = 4,
        sleep: Callable[[float], None] | None = None,
        language: str | None = None,
    ) -> None:
        self.state_file = StateFile(state_path or default_state_path())
        self.portal_url = normalize_portal_url(portal_url) if portal_url else None
        self._product_version = product_version
        self._overrides = {"mac": mac, "cpu_id": cpu_id, "hostname": hostname}
        self.clock = clock or (lambda: datetime.now(UTC))
        self.clock_tolerance = clock_tolerance
        self._client_options = {"timeout": timeout, "max_attempts": max_attempts}
        if sleep is not None:
            self._client_options["sleep"] = sleep
        if language:  # the portal's details and banner in this language (en, de); the codes never change
            self._client_options["language"] = language
        self._lock = threading.RLock()
        self._cpu_id_cache: tuple[str, list[str]] | None = None

    # --- the machine -------------------------------------------------------------------------

    def fingerprint(self) -> fingerprints.Fingerprint:
        """Read the fingerprint now (hostname and MAC each time; the processor ID once)."""
        version = self._product_version or self.state_file.load().product_version
        if not version:
            raise AgentError("the product version is needed (--product-version, or activate once with it)")
        cpu_id = self._overrides["cpu_id"]
        warnings: list[str] = []
        if cpu_id is None:
            if self._cpu_id_cache is None:
                self._cpu_id_cache = fingerprints.read_cpu_id()
            cpu_id, warnings = self._cpu_id_cache[0], list(self._cpu_id_cache[1])
        found = fingerprints.collect(
            version, mac=self._overrides["mac"], cpu_id=cpu_id, hostname=self._overrides["hostname"]
        )
        return fingerprints.Fingerprint(
            found.mac, found.cpu_id, found.hostname, found.product_version, tuple(warnings) + found.warnings
        )

    def machine_uid(self) -> str:
        return self.fingerprint().uid

    # --- pinning -----------------------------------------------------------------------------

    def pinned_keys(self) -> KeySet:
        pinned = self.state_file.load().pinned_keys
        return KeySet.from_jwks(pinned) if pinned.get("keys") else KeySet()

    def pin(self, *, jwks_file: str | os.PathLike[str] | None = None) -> KeySet:
        """Pin the portal's JWK Set (from the portal, or from a file got through a trusted channel).

        Replaces what was pinned: this is the operator's explicit decision.
        """
        with self._lock:
            state = self.state_file.load()
            if jwks_file is not None:
                try:
                    keys = KeySet.from_jwks(json.loads(Path(jwks_file).read_text(encoding="utf-8")))
                except (OSError, ValueError) as error:
                    raise AgentError(f"cannot pin the keys in {jwks_file}: {error}") from error
            else:
                keys = self._client(state).fetch_jwks()
            state.pinned_keys = keys.as_jwks()
            state.portal_url = self.portal_url or state.portal_url
            self.state_file.save(state)
            return keys

    def _refresh_keys(self, state: State, client: PortalClient, kid: str) -> bool:
        """Add the portal's current keys if the trust rule allows it (same URL, https or loopback)."""
        if not may_refresh_keys(state.portal_url, client.portal_url):
            return False
        try:
            fetched = client.fetch_jwks()
        except PortalError:
            return False
        if kid not in fetched:
            return False
        current = KeySet.from_jwks(state.pinned_keys) if state.pinned_keys.get("keys") else KeySet()
        merged = {jwk["kid"]: jwk for jwk in current.jwks} | {jwk["kid"]: jwk for jwk in fetched.jwks}
        state.pinned_keys = {"keys": list(merged.values())}
        self.state_file.save(state)
        return True

    # --- online calls ------------------------------------------------------------------------

    def activate(self, license_key: str, *, machine_name: str | None = None) -> Status:
        """Activate ``license_key`` on this machine; store the key and the activation token."""
        with self._lock:
            state = self.state_file.load()
            fingerprint = self.fingerprint()
            try:
                key = parse_key(license_key)
            except KeyFormatError as error:  # a typo: the portal would answer NOT_FOUND too
                return Status(False, "NOT_FOUND", f"not a license key: {error}", "offline", fingerprint.uid)
            client = self._client(state)
            warnings = list(fingerprint.warnings)
            try:
                verdict = self._call(
                    state, client, lambda: client.activate(key.text, fingerprint, machine_name=machine_name)
                )
            except PortalError as error:
                # No trusted answer: keep the key, so that the grace period (or a later validate) applies.
                self._set_key(state, key.text, fingerprint.product_version)
                state.portal_url = state.portal_url or client.portal_url
                self.state_file.save(state)
                return self._offline(state, fingerprint, error, warnings)
            if not key.verify(self.pinned_keys_of(state).public_keys()):
                warnings.append("the key's signature does not hold against the pinned keys")
            if verdict.valid:
                self._set_key(state, key.text, fingerprint.product_version)
            # A refused activation of another key says nothing about the stored one (only the time counts).
            self._record(state, verdict, fingerprint, about_stored_key=state.license_key in (None, key.text))
            if not verdict.valid:
                if state.license_key == key.text:
                    state.token = None
                self.state_file.save(state)
                return _answered(verdict, fingerprint, warnings)
            token = None
            if verdict.activation:
                try:
                    token = self._verify_token(state, client, verdict.activation, fingerprint.uid)
                    state.token = token.text
                except TokenError as error:
                    warnings.append(f"the activation token is not usable offline: {error}")
            self.state_file.save(state)
            return _answered(verdict, fingerprint, warnings, token)

    def validate(self) -> Status:
        """The heartbeat: ask the portal; without a trusted answer, apply the offline rules."""
        with self._lock:
            state = self.state_file.load()
            fingerprint = self.fingerprint()
            if not state.license_key:  # nothing to ask about (perhaps a manual activation): offline rules
                return self._offline(
                    state, fingerprint, None, list(fingerprint.warnings), connection="offline"
                )
            client = self._client(state)
            try:
                verdict = self._call(state, client, lambda: client.validate(state.license_key, fingerprint))
            except PortalError as error:
                return self._offline(state, fingerprint, error, list(fingerprint.warnings))
            self._record(state, verdict, fingerprint)
            if not verdict.valid:
                state.token = None
            self.state_file.save(state)
            if verdict.code == "FINGERPRINT_MISMATCH" and verdict.changed:
                # This machine changed since the key was bound to it (an in-place upgrade, or a change
                # the organization's fingerprint policy tolerates): ``activate`` re-binds the key where
                # the portal allows it (protocol 1.1), and answers FINGERPRINT_MISMATCH again where not.
                return self.activate(state.license_key)
            warnings = list(fingerprint.warnings)
            if clock_set_back(state, self.clock(), self.clock_tolerance):
                warnings.append(
                    "this machine's clock is behind the portal's: offline checks will fail until it is set"
                )
            token = None
            if verdict.valid:
                token = self._stored_token(state, fingerprint.uid)
                if _token_needs_renewal(token, verdict, self.clock()):
                    token = self._renew_token(state, client, fingerprint, warnings) or token
            return _answered(verdict, fingerprint, warnings, token)

    def deactivate(self) -> Status:
        """Release this machine's binding; raises ``PortalError`` when there is no trusted answer."""
        with self._lock:
            state = self.state_file.load()
            if not state.license_key:
                raise AgentError("no license key is stored: nothing to deactivate")
            fingerprint = self.fingerprint()
            client = self._client(state)
            verdict = self._call(state, client, lambda: client.deactivate(state.license_key, fingerprint))
            self._record(state, verdict, fingerprint)
            state.token = None  # released (DEACTIVATED), or refused (REVOKED...): no token holds any more
            self.state_file.save(state)
            return _answered(verdict, fingerprint, [])

    # --- offline -----------------------------------------------------------------------------

    def status(self) -> Status:
        """The offline rules alone, without asking the portal."""
        with self._lock:
            state = self.state_file.load()
            return self._offline(state, self.fingerprint(), None, [], connection="offline")

    def import_code(self, code: str, *, license_key: str | None = None) -> Status:
        """Manual activation: accept an activation code (the token) made for this machine's UID."""
        with self._lock:
            state = self.state_file.load()
            fingerprint = self.fingerprint()
            if not state.pinned_keys.get("keys"):
                if state.portal_url is None and self.portal_url is None:
                    raise AgentError(
                        "pin the portal's public keys first (`pin --jwks-file FILE`, or `pin` online)"
                    )
                self._first_contact_pin(state, self._client(state))
            token = self._verify_token(state, None, code, fingerprint.uid)
            if license_key is not None:
                try:
                    self._set_key(state, parse_key(license_key).text, fingerprint.product_version)
                except KeyFormatError as error:
                    raise AgentError(f"not a license key: {error}") from error
            if (
                state.license_key
                and str(parse_key(state.license_key).organization_id) != token.organization_id
            ):
                raise TokenError(
                    "this activation code belongs to another organization than the stored license key"
                )
            state.token = token.text
            state.last_verdict = None
            state.product_version = fingerprint.product_version
            state.see_time(self.clock())
            self.state_file.save(state)
            detail = f"activated manually until {format_time(token.expires_at)}"
            return Status(
                True,
                "TOKEN_VALID",
                detail,
                "offline",
                fingerprint.uid,
                token=token,
                warnings=fingerprint.warnings,
            )

    def inspect(self, text: str) -> KeyReport:
        """Read a key without the network: kind, organization, issue date, checksum, signature."""
        stripped = text.strip()
        checksum_valid = len(stripped) > 9 and stripped.isascii() and stripped[-8:] == checksum(stripped[:-9])
        try:
            key = parse_key(text)
        except KeyFormatError as error:
            return KeyReport(text=text, well_formed=False, checksum_valid=checksum_valid, problem=str(error))
        keys = self.pinned_keys()
        signature_valid = key.verify(keys.public_keys()) if keys else None
        problem = (
            None if signature_valid is not False else "the signature does not hold: not issued by this portal"
        )
        return KeyReport(
            text=key.text,
            well_formed=True,
            checksum_valid=True,
            key=key,
            signature_valid=signature_valid,
            problem=problem,
        )

    # --- internals ---------------------------------------------------------------------------

    def _client(self, state: State) -> PortalClient:
        url = self.portal_url or state.portal_url
        if not url:
            raise AgentError("no portal URL: give --portal URL (it is remembered after the first contact)")
        client = PortalClient(url, keys=lambda: self.pinned_keys_of(state), **self._client_options)
        client.refresh_keys = lambda kid: self._refresh_keys(state, client, kid)
        return client

    @staticmethod
    def pinned_keys_of(state: State) -> KeySet:
        return KeySet.from_jwks(state.pinned_keys) if state.pinned_keys.get("keys") else KeySet()

    def _first_contact_pin(self, state: State, client: PortalClient) -> None:
        """Pin on first use: nothing pinned yet, so trust this portal's JWK Set now."""
        if state.pinned_keys.get("keys"):
            state.portal_url = state.portal_url or client.portal_url
        else:
            state.pinned_keys = client.fetch_jwks().as_jwks()
            state.portal_url = client.portal_url
        self.state_file.save(state)

    def _call(self, state: State, client: PortalClient, call: Callable[[], Verdict]) -> Verdict:
        """Make a call, pinning the portal's keys first if this is the first contact."""
        if not state.pinned_keys.get("keys") or state.portal_url is None:
            self._first_contact_pin(state, client)
        return call()

    def _verify_token(
        self, state: State, client: PortalClient | None, text: str, uid: str
    ) -> ActivationToken:
        keys = self.pinned_keys_of(state)
        try:
            kid = token_kid(text)
        except TrustError as error:
            raise TokenError(str(error)) from error
        if kid not in keys and client is not None and self._refresh_keys(state, client, kid):
            keys = self.pinned_keys_of(state)
        return verify_token(text, keys, machine_uid=uid, now=self.clock())

    def _renew_token(
        self, state: State, client: PortalClient, fingerprint: fingerprints.Fingerprint, warnings: list[str]
    ) -> ActivationToken | None:
        """Activate again (allowed any number of times) to get a fresh token before the old one ends."""
        try:
            verdict = self._call(state, client, lambda: client.activate(state.license_key, fingerprint))
            if not verdict.valid or not verdict.activation:
                return None
            token = self._verify_token(state, client, verdict.activation, fingerprint.uid)
        except (PortalError, TokenError) as error:
            warnings.append(f"could not renew the activation token: {error}")
            return None
        state.token = token.text
        self.state_file.save(state)
        return token

    def _stored_token(self, state: State, uid: str) -> ActivationToken | None:
        if not state.token:
            return None
        try:
            return verify_token(state.token, self.pinned_keys_of(state), machine_uid=uid, now=self.clock())
        except TokenError:
            return None

    def _record(
        self,
        state: State,
        verdict: Verdict,
        fingerprint: fingerprints.Fingerprint,
        *,
        about_stored_key: bool = True,
    ) -> None:
        """Remember a trusted verdict: its time (clock set back), and the answer for the offline rules."""
        state.see_time(self.clock())
        if verdict.time is not None:
            state.see_time(verdict.time)
        if about_stored_key:
            state.last_verdict = verdict.summary() | {"for_machine_uid": fingerprint.uid}

    def _set_key(self, state: State, key: str, product_version: str) -> None:
        if state.license_key != key:
            state.license_key, state.token, state.last_verdict = key, None, None
        state.product_version = product_version

    def _offline(
        self,
        state: State,
        fingerprint: fingerprints.Fingerprint,
        error: PortalError | None,
        warnings: list[str],
        connection: str | None = None,
    ) -> Status:
        now = self.clock()
        decision = decide(state, fingerprint.uid, now, tolerance=self.clock_tolerance)
        if connection is None:
            connection = "untrusted" if isinstance(error, UntrustedAnswer) else "unreachable"
        if error is not None:
            warnings = [*warnings, f"no trusted answer from the portal: {error}"]
        if decision.licensed and connection != "offline":
            warnings.append(f"working offline: {decision.detail}")
        if decision.code != "CLOCK_SET_BACK" and (state.license_key or state.token):
            state.see_time(now)
            try:
                self.state_file.save(state)
            except OSError as save_error:
                warnings.append(str(save_error))
        if error is not None and not isinstance(error, PortalUnreachable | UntrustedAnswer):
            warnings.append("the portal gave no verdict (an HTTP error): treated as no answer")
        return Status(
            decision.licensed,
            decision.code,
            decision.detail,
            connection,
            fingerprint.uid,
            token=decision.token,
            warnings=tuple(warnings),
            grace_ends_at=decision.grace_ends_at,
            saved_banner=(state.last_verdict or {}).get("banner") if decision.licensed else None,
        )


def _token_needs_renewal(token: ActivationToken | None, verdict: Verdict, now: datetime) -> bool:
    """Renew when less than half the token's lease is left, unless the license itself ends first."""
    if verdict.kind == "temporary":
        return False  # a temporary key is never activated: it has no token
    if token is None:
        return True
    lease = token.expires_at - token.issued_at
    if token.expires_at - now > lease / 2:
        return False
    return verdict.expires_at is None or verdict.expires_at > token.expires_at + timedelta(minutes=1)


def _answered(
    verdict: Verdict,
    fingerprint: fingerprints.Fingerprint,
    warnings: list[str],
    token: ActivationToken | None = None,
) -> Status:
    """The status of a trusted verdict."""
    return Status(
        verdict.valid,
        verdict.code,
        verdict.detail,
        "portal",
        fingerprint.uid,
        verdict=verdict,
        token=token,
        warnings=tuple(warnings),
    )

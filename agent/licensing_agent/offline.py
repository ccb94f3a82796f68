"""The offline rules: is this machine licensed when the portal gives no (trusted) answer?

In this order (AGENT_PROTOCOL.md, "Activation token", and README "Offline rules"):

1. ``CLOCK_SET_BACK``: the local clock is behind the latest time the agent has seen (its own
   clock or a verdict's ``time``) by more than ``CLOCK_TOLERANCE``, or behind the key's issue date.
2. The portal's last trusted verdict for this key and machine was invalid (``REVOKED``,
   ``DEACTIVATED``...): that code; the portal said no, and no cached token outlives that.
3. ``TOKEN_VALID``: an activation token signed by a pinned key, for this machine UID, unexpired.
4. ``GRACE_PERIOD``: no usable token, but a key whose signature holds against the pinned keys
   and whose issue date is less than 7 days ago (and, if a verdict told when the license ends,
   before that end).
5. Otherwise not licensed: the token's problem (``TOKEN_EXPIRED``...), ``GRACE_EXPIRED``,
   ``KEY_UNVERIFIED`` (no pinned keys or a bad signature), or ``NO_KEY``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from .keys import KeyFormatError, parse_key
from .state import State, format_time, parse_time
from .tokens import ActivationToken, TokenError, verify_token
from .trust import KeySet

GRACE_PERIOD = timedelta(days=7)
CLOCK_TOLERANCE = timedelta(minutes=5)


@dataclass(frozen=True)
class Decision:
    licensed: bool
    code: str
    detail: str
    source: str  # "token", "grace" or "none"
    token: ActivationToken | None = None
    grace_ends_at: datetime | None = None


def clock_set_back(state: State, now: datetime, tolerance: timedelta = CLOCK_TOLERANCE) -> datetime | None:
    """The last time seen, if ``now`` is behind it by more than ``tolerance``; else None."""
    last = parse_time(state.last_seen_time)
    if last is not None and now < last - tolerance:
        return last
    return None


def decide(
    state: State, machine_uid: str, now: datetime, *, tolerance: timedelta = CLOCK_TOLERANCE
) -> Decision:
    """Apply the offline rules to ``state`` for this machine at local time ``now``."""
    last_seen = clock_set_back(state, now, tolerance)
    if last_seen is not None:
        return Decision(
            False,
            "CLOCK_SET_BACK",
            f"this machine's clock ({format_time(now)}) is behind the last time the agent saw "
            f"({format_time(last_seen)}): set the clock right, or connect to the portal",
            "none",
        )
    keys = KeySet.from_jwks(state.pinned_keys) if state.pinned_keys.get("keys") else KeySet()
    key = None
    if state.license_key:
        try:
            key = parse_key(state.license_key)
        except KeyFormatError as error:
            return Decision(False, "KEY_INVALID", f"the stored license key is not valid: {error}", "none")
        if key.issued_at > now + tolerance:
            return Decision(
                False,
                "CLOCK_SET_BACK",
                f"the license key was issued at {format_time(key.issued_at)}, after this machine's clock "
                f"({format_time(now)}): set the clock right",
                "none",
            )
    last = state.last_verdict or {}
    if last and not last.get("valid") and last.get("for_machine_uid") == machine_uid:
        return Decision(
            False,
            last.get("code") or "NOT_VALID",
            f"the portal's last answer: {last.get('detail') or ''}",
            "none",
        )
    token_problem = None
    if state.token:
        try:
            token = verify_token(state.token, keys, machine_uid=machine_uid, now=now)
        except TokenError as error:
            token_problem = error
        else:
            if key is not None and str(key.organization_id) != token.organization_id:
                token_problem = TokenError(
                    "the activation token belongs to another organization than the key"
                )
            else:
                return Decision(
                    True,
                    "TOKEN_VALID",
                    f"licensed offline by the activation token until {format_time(token.expires_at)}",
                    "token",
                    token=token,
                )
    if key is None:
        if token_problem is not None:
            return Decision(False, token_problem.code, str(token_problem), "none")
        return Decision(False, "NO_KEY", "no license key or activation code: activate first", "none")
    if not keys:
        return Decision(
            False,
            "KEY_UNVERIFIED",
            "the portal's public keys are not pinned, so the key cannot be checked offline "
            "(run `pin` while connected, or `pin --jwks-file`)",
            "none",
        )
    if not key.verify(keys.public_keys()):
        return Decision(
            False,
            "KEY_UNVERIFIED",
            "the license key's signature does not hold: it was not issued by this portal, or it was altered",
            "none",
        )
    grace_ends_at = key.issued_at + GRACE_PERIOD
    license_ends_at = (
        parse_time(last.get("expires_at")) if last.get("for_machine_uid") == machine_uid else None
    )
    if license_ends_at is not None:
        grace_ends_at = min(grace_ends_at, license_ends_at)
    if now < grace_ends_at:
        note = f" ({token_problem})" if token_problem else ""
        return Decision(
            True,
            "GRACE_PERIOD",
            f"licensed offline in the grace period until {format_time(grace_ends_at)}{note}",
            "grace",
            grace_ends_at=grace_ends_at,
        )
    if token_problem is not None:
        return Decision(False, token_problem.code, f"{token_problem}; no grace period left", "none")
    return Decision(
        False,
        "GRACE_EXPIRED",
        f"the grace period ended at {format_time(grace_ends_at)}: connect to the portal to activate",
        "none",
        grace_ends_at=grace_ends_at,
    )

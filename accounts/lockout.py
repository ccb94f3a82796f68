"""Failed sign-ins slow down one account *from one address*, with growing delays.

A stranger's wrong passwords therefore never lock anyone else out: the throttle counts the pair
(account, address). After ``SIGN_IN_FAILURE_LIMIT`` failures the pair waits 30 s, then each further
failure doubles the wait (up to an hour); the counter forgets after a day without failures. While
it waits, the right password still gets through for a user who has a second factor (the second
step, throttled by django-otp, stands between a guesser and the account). One address trying many
accounts is limited too (``SIGN_IN_FAILURE_LIMIT`` × 4 in 15 minutes, that address only). A
completed password reset clears every address's counter of the account.

Counters live in the shared cache (Redis with REDIS_URL), like the API's rate limits.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time

from django.conf import settings
from django.core.cache import cache

from core import ratelimit

logger = logging.getLogger(__name__)

FIRST_DELAY = 30
LONGEST_DELAY = 3600
FORGET_AFTER = 24 * 3600
ADDRESS_WINDOW = 15 * 60


def _account(username: str) -> str:
    return hashlib.sha256((username or "").strip().lower().encode()).hexdigest()[:32]


def _pair_key(username: str, ip: str) -> str:
    account = _account(username)
    try:
        generation = cache.get(f"signin-generation:{account}", 0)
    except Exception:  # noqa: BLE001 - the cache is down: fail open, loudly
        logger.exception("sign-in throttle cache unavailable")
        generation = 0
    return f"signin:{account}:{generation}:{ip or 'unknown'}"


def _address_limit() -> ratelimit.Limit:
    return ratelimit.Limit("signin-ip", settings.SIGN_IN_FAILURE_LIMIT * 4, ADDRESS_WINDOW)


def delay_after(failures: int) -> int:
    """Seconds to wait after ``failures`` failures in a row: none up to the limit, then 30 s, 60 s, … 1 h."""
    free = settings.SIGN_IN_FAILURE_LIMIT
    if failures < free:
        return 0
    return min(FIRST_DELAY * 2 ** (failures - free), LONGEST_DELAY)


def sign_in_wait(username: str, ip: str, *, now: float | None = None) -> int:
    """Seconds this account must wait before another try from this address (0: go ahead)."""
    now = time.time() if now is None else now
    limit = _address_limit()
    if limit.limit > 0 and ratelimit.count(limit, ip or "unknown", now=now) >= limit.limit:
        return ratelimit.retry_after(limit, now)
    try:
        state = cache.get(_pair_key(username, ip))
    except Exception:  # noqa: BLE001 - fail open
        return 0
    if not state:
        return 0
    failures, last = state
    return max(0, math.ceil(last + delay_after(failures) - now))


def sign_in_failed(username: str, ip: str, *, now: float | None = None) -> None:
    now = time.time() if now is None else now
    ratelimit.hit(_address_limit(), ip or "unknown", now=now)
    key = _pair_key(username, ip)
    try:
        failures = (cache.get(key) or (0, now))[0] + 1
        cache.set(key, (failures, now), timeout=FORGET_AFTER)
    except Exception:  # noqa: BLE001 - fail open, loudly
        logger.exception("sign-in throttle cache unavailable")


def sign_in_succeeded(username: str, ip: str) -> None:
    try:
        cache.delete(_pair_key(username, ip))
    except Exception:  # noqa: BLE001
        logger.exception("sign-in throttle cache unavailable")


def sign_in_unlock(username: str) -> None:
    """Forget the account's failures from every address (a completed password reset)."""
    key = f"signin-generation:{_account(username)}"
    try:
        cache.add(key, 0, timeout=None)
        cache.incr(key)
    except Exception:  # noqa: BLE001
        logger.exception("sign-in throttle cache unavailable")

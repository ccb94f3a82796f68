"""Fixed-window rate limits counted in the shared cache.

With ``REDIS_URL`` set the counters live in Redis, so every worker on every host
sees the same count and ``incr`` is atomic there. Without it they live in the
process (the embedded single-process default only).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from django.core.cache import cache

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limit:
    scope: str
    limit: int
    window: int  # seconds


def hit(limit: Limit, identity: str, *, now: float | None = None) -> int:
    """Count one event; return 0 if allowed, else the seconds until the window ends (Retry-After)."""
    if limit.limit <= 0:
        return 0
    now = time.time() if now is None else now
    window_index = int(now // limit.window)
    cache_key = f"rl:{limit.scope}:{identity}:{window_index}"
    try:
        cache.add(cache_key, 0, timeout=limit.window + 5)
        count = cache.incr(cache_key)
    except ValueError:  # the key expired between add and incr
        cache.set(cache_key, 1, timeout=limit.window + 5)
        count = 1
    except Exception:  # the cache is down: fail open, loudly
        logger.exception("rate-limit cache unavailable; not limiting %s", limit.scope)
        return 0
    if count <= limit.limit:
        return 0
    return max(1, math.ceil((window_index + 1) * limit.window - now))


def count(limit: Limit, identity: str, *, now: float | None = None) -> int:
    """How many events this window has seen (without counting one)."""
    now = time.time() if now is None else now
    try:
        return int(cache.get(f"rl:{limit.scope}:{identity}:{int(now // limit.window)}", 0))
    except Exception:  # noqa: BLE001 - any cache failure
        return 0

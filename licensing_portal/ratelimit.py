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


# Count each limit in turn and stop at the first one exceeded (as calling ``hit`` for each would), in
# one round trip to Redis. KEYS are the counters; ARGV holds each counter's limit and lifetime.
_HIT_ALL_SCRIPT = """
for index, key in ipairs(KEYS) do
    local count = redis.call('INCR', key)
    if count == 1 then
        redis.call('EXPIRE', key, ARGV[2 * index])
    end
    if count > tonumber(ARGV[2 * index - 1]) then
        return index
    end
end
return 0
"""
_script = None  # the registered script (its SHA-1); any client of the cache runs it


def hit_all(checks: list[tuple[Limit, str]], *, now: float | None = None) -> int:
    """``hit`` for each (limit, identity) in turn, stopping at the first refusal; return its Retry-After or 0.

    With Redis this is one round trip (a server-side script) instead of two per limit: the agent
    API counts two limits on every call, and its throughput is what the portal costs.
    """
    checks = [(limit, identity) for limit, identity in checks if limit.limit > 0]
    if not checks:
        return 0
    now = time.time() if now is None else now
    client = _redis_client()
    if client is None:
        for limit, identity in checks:
            retry_after = hit(limit, identity, now=now)
            if retry_after:
                return retry_after
        return 0
    keys, arguments = [], []
    for limit, identity in checks:
        keys.append(cache.make_key(f"rl:{limit.scope}:{identity}:{int(now // limit.window)}"))
        arguments += [limit.limit, limit.window + 5]
    global _script
    try:
        if _script is None:
            _script = client.register_script(_HIT_ALL_SCRIPT)
        refused = int(_script(keys=keys, args=arguments, client=client))
    except Exception:  # the cache is down: fail open, loudly
        logger.exception("rate-limit cache unavailable; not limiting %s", ", ".join(c[0].scope for c in checks))
        return 0
    if not refused:
        return 0
    limit = checks[refused - 1][0]
    return max(1, math.ceil((int(now // limit.window) + 1) * limit.window - now))


def _redis_client():
    """The Redis client behind the default cache, or None if the cache is not Redis.

    Kept on the cache's own client object (one per thread, like Django's caches): making a
    ``redis.Redis`` per call costs more than the round trip.
    """
    backend = getattr(cache, "_cache", None)
    if backend is None or not hasattr(backend, "get_client"):
        return None
    client = getattr(backend, "rate_limit_client", None)
    if client is None:
        client = backend.rate_limit_client = backend.get_client(write=True)
    return client


def count(limit: Limit, identity: str, *, now: float | None = None) -> int:
    """How many events this window has seen (without counting one)."""
    now = time.time() if now is None else now
    try:
        return int(cache.get(f"rl:{limit.scope}:{identity}:{int(now // limit.window)}", 0))
    except Exception:  # noqa: BLE001 - any cache failure
        return 0

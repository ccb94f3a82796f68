"""Fixed-window rate limits counted in the shared cache.

With ``REDIS_URL`` set the counters live in Redis, so every worker on every host
sees the same count and ``incr`` is atomic there. Without it they live in the
process (the embedded single-process default only).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import os
import time
from dataclasses import dataclass

import hiredis
from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches
from redis.connection import Connection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limit:
    scope: str
    limit: int
    window: int  # seconds
    # False: checking this limit does not count an event (``record`` counts them, e.g. only the
    # failures); the check refuses once ``limit`` events are recorded in the window.
    counts: bool = True


def _name(limit: Limit, identity: str, now: float) -> str:
    return f"rl:{limit.scope}:{identity}:{int(now // limit.window)}"


def hit(limit: Limit, identity: str, *, now: float | None = None) -> int:
    """Count one event (unless the limit does not count its checks); return 0 if allowed, else the
    seconds until the window ends (Retry-After)."""
    if limit.limit <= 0:
        return 0
    now = time.time() if now is None else now
    try:
        count = record(limit, identity, now=now) if limit.counts else int(cache.get(_name(limit, identity, now), 0)) + 1
    except Exception:  # the cache is down: fail open, loudly
        logger.exception("rate-limit cache unavailable; not limiting %s", limit.scope)
        return 0
    if count <= limit.limit:
        return 0
    return retry_after(limit, now)


def record(limit: Limit, identity: str, *, now: float | None = None) -> int:
    """Count one event in the current window and return the window's count (0 if the cache is down)."""
    now = time.time() if now is None else now
    cache_key = _name(limit, identity, now)
    try:
        cache.add(cache_key, 0, timeout=limit.window + 5)
        return cache.incr(cache_key)
    except ValueError:  # the key expired between add and incr
        cache.set(cache_key, 1, timeout=limit.window + 5)
        return 1
    except Exception:  # noqa: BLE001 - the cache is down: nothing counted, said once by the caller's logs
        logger.warning("rate-limit cache unavailable; %s not counted", limit.scope)
        return 0


def retry_after(limit: Limit, now: float) -> int:
    """Seconds until the window of ``limit`` that holds ``now`` ends (a refusal's Retry-After)."""
    return max(1, math.ceil((int(now // limit.window) + 1) * limit.window - now))


# Count each limit in turn and stop at the first one exceeded (as calling ``hit`` for each would), in
# one round trip to Redis. KEYS[1..ARGV[1]] are the counters; ARGV holds each counter's limit,
# lifetime and increment after their count (increment 0: only check what others counted). Other
# scripts (licenses/agent_api/state_cache.py) go on from where it ends.
COUNT_SCRIPT = """
local counters = tonumber(ARGV[1])
for index = 1, counters do
    local count
    if ARGV[3 * index + 1] == '0' then
        count = tonumber(redis.call('GET', KEYS[index]) or '0') + 1
    else
        count = redis.call('INCR', KEYS[index])
        if count == 1 then
            redis.call('EXPIRE', KEYS[index], ARGV[3 * index])
        end
    end
    if count > tonumber(ARGV[3 * index - 1]) then
        return {index}
    end
end
"""
_HIT_ALL_SCRIPT = COUNT_SCRIPT + "return {0}\n"


def counters(checks: list[tuple[Limit, str]], now: float, make_key) -> tuple[list[str], list]:
    """The KEYS and ARGV of ``COUNT_SCRIPT`` for these checks (limits of 0 are off)."""
    keys, arguments = [], [0]
    for limit, identity in checks:
        if limit.limit > 0:
            keys.append(make_key(_name(limit, identity, now)))
            arguments += [limit.limit, limit.window + 5, 1 if limit.counts else 0]
    arguments[0] = len(keys)
    return keys, arguments


class ScriptRunner:
    """Runs server-side (Lua) scripts on the default cache's Redis, on a connection of its own.

    ``client`` comes from Django's cache backend, and the scripts' connection from that client's
    pool (one per process, with the address, password, database, TLS and time-outs that
    ``REDIS_URL`` and ``CACHES`` give). The runner checks one connection out of the pool on its
    first script (so a Redis that is down when the worker starts costs nothing but the failed
    call), and again in a forked child, and keeps it: an agent call runs one script, and checking a
    pooled connection out and back in for it costs a third more CPU than the round trip itself.

    A script is sent on that connection with redis-py's connection API, below its client:
    ``Connection.send_packed_command`` with the command packed by hiredis (which redis-py's own
    parser uses), and ``Connection.read_response``. The client's command machinery (argument
    checks in Python, its retries and metrics) cost as much CPU again as the round trip: a script
    call took the worker 75 to 83 µs of CPU through the client, 41 to 45 µs this way (2026-12-04,
    docs/PERFORMANCE.md).
    The connection drops itself on any failure while sending or reading (a reply half read is never
    read by the next call) and opens again on the next call, so an outage ends when Redis is back,
    and the runner never holds more than its one connection. A script Redis does not know (a
    restarted or flushed Redis) is loaded and run again; a connection that fails (a Redis restarted
    since it was opened) is tried once more. Any other failure reaches the caller, who fails open.

    Pinned by tests/api/test_internals.py: the Django internals ``RedisCache._cache`` (its
    ``RedisCacheClient``) and that client's ``get_client(write=True)``; redis-py's
    ``ConnectionPool.get_connection``, ``Connection.send_packed_command`` and ``read_response``.
    """

    def __init__(self, backend):
        self._backend = backend
        self.client = backend._cache.get_client(write=True)
        self._connection: Connection | None = None
        self._connection_fork = -1

    def make_key(self, name: str) -> str:
        """The Redis key of the cache's key ``name``, as ``cache.set(name, ...)`` would name it."""
        return self._backend.make_key(name)

    def run(self, text: str, keys: list[str], arguments: list):
        try:
            return self._run(text, keys, arguments)
        except RedisConnectionError:
            return self._run(text, keys, arguments)

    def _run(self, text: str, keys: list[str], arguments: list):
        connection = self._scripts_connection()
        command = ("EVALSHA", _sha1(text), len(keys), *keys, *arguments)
        try:
            return _round_trip(connection, command)
        except NoScriptError:
            _round_trip(connection, ("SCRIPT", "LOAD", text))
            return _round_trip(connection, command)

    def _scripts_connection(self) -> Connection:
        if self._connection is None or self._connection_fork != _forks:
            self._connection = None  # a parent's connection is never used (nor closed) by its child
            self._connection = self.client.connection_pool.get_connection()
            self._connection_fork = _forks
        return self._connection


def _round_trip(connection: Connection, command: tuple):
    """Send one command and read its reply (an error reply is raised, as redis-py's client raises it)."""
    connection.send_packed_command([hiredis.pack_command(command)], check_health=False)
    return connection.read_response()


_forks = 0  # forks of this process's line: a child opens its own connection, never its parent's


def _forked() -> None:
    global _forks  # noqa: PLW0603 - one count per process
    _forks += 1


os.register_at_fork(after_in_child=_forked)


@functools.cache
def _sha1(text: str) -> str:
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


def script_runner() -> ScriptRunner | None:
    """The ``ScriptRunner`` of the default cache's Redis, or None if the cache is not Redis.

    Kept on the cache backend (one per thread, renewed with the CACHES setting): building a redis-py
    client (``get_client``) costs more CPU than the agent API's round trip to Redis itself.
    """
    backend = caches[DEFAULT_CACHE_ALIAS]
    runner = getattr(backend, "agent_script_runner", False)
    if runner is False:
        runner = ScriptRunner(backend) if hasattr(getattr(backend, "_cache", None), "get_client") else None
        backend.agent_script_runner = runner
    return runner


def refused_by(checks: list[tuple[Limit, str]], reply: list, now: float) -> int:
    """The Retry-After of the check that ``COUNT_SCRIPT`` refused (its first reply), or 0."""
    enforced = [limit for limit, _identity in checks if limit.limit > 0]
    return retry_after(enforced[int(reply[0]) - 1], now) if reply and int(reply[0]) else 0


def hit_all(checks: list[tuple[Limit, str]], *, now: float | None = None) -> int:
    """``hit`` for each (limit, identity) in turn, stopping at the first refusal; return its Retry-After or 0.

    With Redis this is one round trip (a server-side script) instead of two per limit: the agent
    API counts two limits on every call, and its throughput is what the portal costs.
    """
    now = time.time() if now is None else now
    runner = script_runner()
    if runner is None:
        for limit, identity in checks:
            refused_for = hit(limit, identity, now=now)
            if refused_for:
                return refused_for
        return 0
    keys, arguments = counters(checks, now, runner.make_key)
    if not keys:
        return 0
    try:
        reply = runner.run(_HIT_ALL_SCRIPT, keys, arguments)
    except Exception:  # the cache is down: fail open, loudly
        logger.exception("rate-limit cache unavailable; not limiting %s", ", ".join(c[0].scope for c in checks))
        return 0
    return refused_by(checks, reply, now)


def count(limit: Limit, identity: str, *, now: float | None = None) -> int:
    """How many events this window has seen (without counting one)."""
    now = time.time() if now is None else now
    try:
        return int(cache.get(_name(limit, identity, now), 0))
    except Exception:  # noqa: BLE001 - any cache failure
        return 0

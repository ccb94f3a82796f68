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
import threading
import time
from dataclasses import dataclass

import hiredis
from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches
from django.core.cache.backends.base import default_key_func
from django.core.signals import setting_changed
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

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
    return retry_after(limit, now)


def retry_after(limit: Limit, now: float) -> int:
    """Seconds until the window of ``limit`` that holds ``now`` ends (a refusal's Retry-After)."""
    return max(1, math.ceil((int(now // limit.window) + 1) * limit.window - now))


# Count each limit in turn and stop at the first one exceeded (as calling ``hit`` for each would), in
# one round trip to Redis. KEYS[1..ARGV[1]] are the counters; ARGV holds each counter's limit and
# lifetime after their count. Other scripts (licenses/state_cache.py) go on from where it ends.
COUNT_SCRIPT = """
local counters = tonumber(ARGV[1])
for index = 1, counters do
    local count = redis.call('INCR', KEYS[index])
    if count == 1 then
        redis.call('EXPIRE', KEYS[index], ARGV[2 * index + 1])
    end
    if count > tonumber(ARGV[2 * index]) then
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
            keys.append(make_key(f"rl:{limit.scope}:{identity}:{int(now // limit.window)}"))
            arguments += [limit.limit, limit.window + 5]
    arguments[0] = len(keys)
    return keys, arguments


class ScriptRunner:
    """Runs server-side scripts on the cache's Redis over one connection of its own.

    The agent API makes one round trip to Redis per call; through the client's command layer
    (connection pool, retries, reply callbacks) that cost more CPU than Redis spends on it, so the
    hot path keeps a connection (a new one in a forked process), opened by the client (address,
    password, database, TLS, time-outs as ``REDIS_URL`` says), and then writes ``EVALSHA`` to its
    socket itself and reads the reply with hiredis's parser. A script that Redis does not know (a
    restarted or flushed Redis) is loaded and run again. A connection error or time-out drops the
    connection and is tried once more on a new one (a counter may then count one call twice:
    refusing early beats not counting); a second failure reaches the caller, who fails open.
    """

    def __init__(self, client, backend):
        self.client = client
        self._backend = backend
        # The cache's own key names, by concatenation where its key function is Django's default
        # (the agent API names six keys per call, and ``make_key`` formats each through two calls).
        self._prefix = f"{backend.key_prefix}:{backend.version}:" if backend.key_func is default_key_func else None
        self.connection = None
        self.pid = 0
        self._socket = None
        self._reader = None

    def make_key(self, name: str) -> str:
        """The Redis key of the cache's key ``name``, as ``cache.set(name, ...)`` would name it."""
        return self._prefix + name if self._prefix is not None else self._backend.make_key(name)

    def run(self, text: str, keys: list[str], arguments: list):
        command = ("EVALSHA", _sha1(text), len(keys), *keys, *arguments)
        try:
            return self._send(command, text)
        except (RedisConnectionError, RedisTimeoutError, OSError):
            return self._send(command, text)

    def _send(self, command: tuple, text: str):
        if self.connection is None or self.pid != os.getpid():
            connection = self.client.connection_pool.make_connection()
            connection.connect()  # the handshake (AUTH, SELECT...) through the client
            self.connection, self.pid = connection, os.getpid()
            self._socket, self._reader = connection._sock, hiredis.Reader()
        try:
            reply = self._round_trip(command)
            if isinstance(reply, hiredis.ReplyError) and str(reply).startswith("NOSCRIPT"):
                self._round_trip(("SCRIPT", "LOAD", text))
                reply = self._round_trip(command)
            if isinstance(reply, hiredis.ReplyError):
                raise ResponseError(str(reply))
            return reply
        except BaseException:
            self.connection.disconnect()  # never leave half a reply for the next call to read
            self.connection = self._socket = self._reader = None
            raise

    def _round_trip(self, command: tuple):
        self._socket.sendall(hiredis.pack_command(command))
        reply = self._reader.gets()
        while reply is False:
            data = self._socket.recv(65536)
            if not data:
                raise RedisConnectionError("Redis closed the connection")
            self._reader.feed(data)
            reply = self._reader.gets()
        return reply


@functools.cache
def _sha1(text: str) -> str:
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


# Each thread's runner (like Django's caches, one per thread), kept in a plain thread-local: looking
# the cache up in ``caches`` on every call costs the agent API more than the rest of choosing its
# Redis keys. A change of the CACHES setting (tests) renews the generation, and with it every runner.
_runners = threading.local()
_runners_generation = 0


def _forget_runners(*, setting, **kwargs) -> None:
    global _runners_generation  # noqa: PLW0603 - one counter for every thread
    if setting == "CACHES":
        _runners_generation += 1


setting_changed.connect(_forget_runners)


def script_runner() -> ScriptRunner | None:
    """This thread's ``ScriptRunner`` for the cache's Redis, or None if the cache is not Redis."""
    held = getattr(_runners, "held", None)
    if held is not None and held[0] == _runners_generation:
        return held[1]
    backend = caches[DEFAULT_CACHE_ALIAS]
    client = getattr(backend, "_cache", None)
    runner = ScriptRunner(client.get_client(write=True), backend) if hasattr(client, "get_client") else None
    _runners.held = (_runners_generation, runner)
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
        return int(cache.get(f"rl:{limit.scope}:{identity}:{int(now // limit.window)}", 0))
    except Exception:  # noqa: BLE001 - any cache failure
        return 0

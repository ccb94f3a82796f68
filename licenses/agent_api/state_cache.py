"""The verdict inputs of keys in use, cached in Redis: the agent API's hot path.

Every agent calls ``validate`` on an interval, and each call needs the key's row with its
organization, environment and bound machine (a temporary key also needs the machine it runs on).
Those rows change rarely; the heartbeats never end. With ``REDIS_URL`` set, the agent API reads them
from Redis in the same round trip that counts its rate limits (``prefetch``), so a heartbeat whose
key is cached touches no database at all. On a miss the service reads PostgreSQL as before and
stores what it read (``store``).

The verdict itself is never cached: it is worked out on every call from the cached rows and the
current time (so a key or subscription that ends, ends on time), and signed afresh.

Invalidation, by generation. Every cached entry carries the generation it was read under: a global
one and its organization's (a key's text names its organization, so both are known before the
key is looked up). Every audited change of an organization's data (``audit_record``) gives the
organization a new random generation, once before its transaction commits and once after, and so
do the two unaudited changes of a machine's details (``organization_changed``). An entry of an
older generation is a miss. ``clear`` (``manage.py clear_verdict_cache``) renews the global
generation, for changes made to the database by hand. Entries also expire after
``LICENSE_STATE_CACHE_SECONDS`` (default an hour): the bound on staleness if a process died between
its commit and the generation write, or Redis was out of its reach at that moment.

"Last seen" is not cached here, but a call from the machine its cached key is bound to records
it in the same round trip (into ``licenses.agent_api.seen``'s pending times, which that module
writes to PostgreSQL).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import pickle
import time
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core.signals import setting_changed
from django.db import transaction

from core import ratelimit
from licenses.agent_api import seen

logger = logging.getLogger(__name__)

# Goes on from ratelimit.COUNT_SCRIPT (the rate-limit counters, KEYS[1..ARGV[1]]) if the key is
# looked up. Then KEYS: its entry, the global generation, its organization's generation, the hash of
# pending "last seen" times (``seen``) and, for a temporary key, the entry of the machine it runs on;
# the ARGV after the counters' hold a fresh generation (used where none exists yet), the
# generations' lifetime, renewed on every read (``GETEX``): a generation no call has read for that
# long goes, as its entries have, and one for an organization that has none (a key made up for a
# real or invented one) does not stay for good; then the calling machine's UID and the time.
# A key's entry is ``generation|bound machine UID|rows`` (64 characters of UID, dashes if unbound):
# a call from the machine its cached key is bound to is that machine's "last seen", recorded here.
# Returns {refused counter} or {0, generation, key rows, machine rows, 1 if "last seen" recorded}.
_PREFETCH_SCRIPT = (
    ratelimit.COUNT_SCRIPT
    + """
if #KEYS == counters then
    return {0}
end
local function generation(key)
    local value = redis.call('GETEX', key, 'EX', ARGV[3 * counters + 3])
    if not value then
        redis.call('SET', key, ARGV[3 * counters + 2], 'NX', 'EX', ARGV[3 * counters + 3])
        value = redis.call('GET', key)
    end
    return value
end
local current = generation(KEYS[counters + 2]) .. '.' .. generation(KEYS[counters + 3])
local function entry(key)
    local value = redis.call('GET', key)
    if value and string.sub(value, 1, #current + 1) == current .. '|' then
        return string.sub(value, #current + 2)
    end
    return false
end
local machine = false
if #KEYS >= counters + 5 then
    machine = entry(KEYS[counters + 5])
end
local key, seen = entry(KEYS[counters + 1]), 0
if key then
    local uid = ARGV[3 * counters + 4]
    if string.sub(key, 1, 64) == uid then
        redis.call('HSET', KEYS[counters + 4], uid, ARGV[3 * counters + 5])
        seen = 1
    end
    key = string.sub(key, 66)
end
return {0, current, key, machine, seen}
"""
)


@dataclass
class Prefetch:
    """What one agent call's round trip to Redis found."""

    retry_after: int  # 0, or the refused rate limit's Retry-After
    digest: str = ""
    organization: str | None = None  # the organization's UUID, as text
    uid: str = ""
    generation: bytes | None = None
    key_row: tuple | None = None  # the cached row of the key's verdict query
    machine_row: tuple | None = None  # a temporary key's: the cached row of its machine query
    seen: bool = False  # the call's machine is the cached key's: its "last seen" is recorded

    @property
    def usable(self) -> bool:
        return self.generation is not None


# The names of the cache's Redis keys (under the cache's prefix): a key's entry, a temporary key's
# machine entry, the global and each organization's generation.
# Entries are named after the layout of the rows they hold, so that a release whose models have other
# columns never reads rows that another release cached (during a rolling deploy both run at once).
def _entry(digest: str) -> str:
    return f"ks:{row_layout()}:{digest}"


def _machine_entry(organization: str, uid: str) -> str:
    return f"km:{row_layout()}:{organization}:{uid}"


ROW_FORMAT = 2  # raise it when the cached entries change shape in a way the rows' columns do not show


@functools.cache
def row_layout() -> str:
    """A short digest of what the cached rows are made of: the two lookups' SQL (every column, in
    order) and their models' fields' types, as ``licenses.agent_api.flow`` reads them."""
    from environments.models import Machine
    from licenses.agent_api import sql
    from licenses.models import LicenseKey
    from organizations.models import Organization

    models = (LicenseKey, Organization, LicenseKey._meta.get_field("environment").related_model, Machine)
    types = [field.get_internal_type() for model in models for field in model._meta.concrete_fields]
    layout = "\n".join([str(ROW_FORMAT), sql.VERDICT_BY_DIGEST, sql.REGISTERED_MACHINE, *types])
    return hashlib.sha256(layout.encode()).hexdigest()[:8]


def _generation(organization: uuid.UUID | str | None = None) -> str:
    return "kg" if organization is None else f"kg:{organization}"


def _generation_seconds() -> int:
    """How long a generation lasts unread: twice an entry's lifetime (an entry read under it is at
    most that old), so no generation goes while an entry of it could still be read."""
    return 2 * settings.LICENSE_STATE_CACHE_SECONDS


def _runner() -> ratelimit.ScriptRunner | None:
    """The cache's Redis, if the cache is on (``REDIS_URL`` set and ``LICENSE_STATE_CACHE_SECONDS`` > 0)."""
    return ratelimit.script_runner() if settings.LICENSE_STATE_CACHE_SECONDS > 0 else None


def is_on() -> bool:
    return _runner() is not None


def prefetch(
    checks: list[tuple[ratelimit.Limit, str]],
    *,
    digest: str,
    organization: str | None,
    uid: str,
    kind: str,
    seen_at: int = 0,
) -> Prefetch | None:
    """Count the rate limits and fetch the key's cached rows, in one round trip; if the cached key
    is bound to the machine ``uid``, record its "last seen" as ``seen_at`` (epoch seconds; the
    services' clock, default now).

    None if the cache is off (the caller counts the limits itself). ``organization`` (the UUID's
    text, as ``keyformat.key_route`` reads it) is None for text that is not a well-formed key: then
    only the limits are counted.
    """
    runner = _runner()
    if runner is None:
        return None
    now = time.time()
    make_key = runner.make_key
    keys, arguments = ratelimit.counters(checks, now, make_key)
    counted = len(keys)
    if organization is not None:
        names = [_entry(digest), _generation(), _generation(organization), seen.PENDING]
        if kind == "temporary":
            names.append(_machine_entry(organization, uid))
        keys += [make_key(name) for name in names]
        arguments += [os.urandom(8).hex(), _generation_seconds(), uid, seen_at or int(now)]
    if not keys:
        return Prefetch(retry_after=0)
    try:
        reply = runner.run(_PREFETCH_SCRIPT, keys, arguments)
    except Exception:  # Redis is down: fail open on the limits, read the database
        logger.exception("verdict cache unavailable; not limiting, reading the database")
        _process.doubt = True
        return Prefetch(retry_after=0)
    refused = ratelimit.refused_by(checks, reply, now) if counted else 0
    if refused or len(reply) == 1:
        return Prefetch(retry_after=refused)
    if organization in _distrusted(now):  # a change Redis has not heard of yet: read the database
        return Prefetch(retry_after=0)
    _, generation, key_entry, machine_entry, recorded = reply
    return Prefetch(
        retry_after=0,
        digest=digest,
        organization=organization,
        uid=uid,
        generation=generation,
        key_row=pickle.loads(key_entry) if key_entry else None,  # noqa: S301 - our own Redis, as Django's cache
        machine_row=pickle.loads(machine_entry) if machine_entry else None,  # noqa: S301
        seen=bool(recorded),
    )


_UNBOUND = b"-" * 64


def store(
    found: Prefetch | None, *, key_row: tuple | None = None, bound_uid: str = "", machine_row: tuple | None = None
) -> None:
    """Cache rows read from the database under the generation ``found`` was fetched with, the key's
    with the UID of the machine it is bound to (``bound_uid``), if any.

    A change committed since that fetch has renewed the generation, so these rows, if stale, are
    never read back.
    """
    runner = _runner()
    if runner is None or found is None or not found.usable or (key_row is None and machine_row is None):
        return
    prefix = found.generation + b"|"
    seconds = settings.LICENSE_STATE_CACHE_SECONDS
    try:
        pipeline = runner.client.pipeline(transaction=False)
        if key_row is not None:
            bound = bound_uid.encode() if len(bound_uid) == 64 else _UNBOUND
            value = prefix + bound + b"|" + pickle.dumps(key_row, protocol=5)
            pipeline.set(runner.make_key(_entry(found.digest)), value, ex=seconds)
        if machine_row is not None:
            pipeline.set(
                runner.make_key(_machine_entry(found.organization, found.uid)),
                prefix + pickle.dumps(machine_row, protocol=5),
                ex=seconds,
            )
        pipeline.execute()
    except Exception:  # noqa: BLE001 - a cache that cannot be written is only slower
        logger.warning("verdict cache: could not store rows", exc_info=True)
        _process.doubt = True


def cached_count(calls: list[tuple[str, uuid.UUID, str, str]]) -> int:
    """How many of these agent calls (key digest, organization, machine UID, kind) would find their
    rows cached now: entries under the current generations, as the prefetch script checks (for the
    benchmark, which warms the cache and says how far)."""
    runner = _runner()
    if runner is None:
        return 0
    client, make_key = runner.client, runner.make_key
    organizations = sorted({str(organization_id) for _, organization_id, _, _ in calls})
    generation = client.get(make_key(_generation()))
    generations = client.mget([make_key(_generation(organization)) for organization in organizations])
    current = {
        organization: generation + b"." + value + b"|"
        for organization, value in zip(organizations, generations, strict=True)
        if generation is not None and value is not None
    }
    found = 0
    for start in range(0, len(calls), 1000):
        chunk = calls[start : start + 1000]
        names = [
            [_entry(digest)] + ([_machine_entry(organization_id, uid)] if kind == "temporary" else [])
            for digest, organization_id, uid, kind in chunk
        ]
        values = iter(client.mget([make_key(name) for entry_names in names for name in entry_names]))
        for (_digest, organization_id, _uid, _kind), entry_names in zip(chunk, names, strict=True):
            entries = [next(values) for _ in entry_names]
            prefix = current.get(str(organization_id))
            found += prefix is not None and all(entry is not None and entry.startswith(prefix) for entry in entries)
    return found


def organization_changed(organization_id: uuid.UUID | str) -> None:
    """Every entry of this organization is stale: now (inside the change's transaction) and once it commits.

    The change's transaction also records the renewal as pending (``PendingCacheRenewal``), and the
    record goes once Redis has confirmed the renewal after the commit. If Redis cannot be reached
    (or this process dies first), the record stays, and every worker that finds it renews the
    generation itself or, until that succeeds, answers the organization from the database.
    """
    if _runner() is None:
        return
    from licenses.cache_renewals import PendingCacheRenewal  # a model: loaded after the apps

    _renew(_generation(organization_id))
    pending = PendingCacheRenewal.objects.create(organization_uuid=organization_id)

    def confirm() -> None:
        if _renew(_generation(organization_id)):
            PendingCacheRenewal.objects.filter(pk=pending.pk).delete()

    transaction.on_commit(confirm)


class _ProcessState:
    """What this process knows of the renewals pending in PostgreSQL."""

    def __init__(self) -> None:
        self.checked_at = 0.0  # when it last read them
        self.doubt = False  # Redis failed a call since: read them again before trusting an entry
        self.distrusted: frozenset[str] = frozenset()  # organizations whose renewal is still pending


_process = _ProcessState()


def _distrusted(now: float) -> frozenset[str]:
    """The organizations whose entries must not be used now: those whose renewal is still pending.

    Read from PostgreSQL at most every ``LICENSE_STATE_CACHE_RECHECK_SECONDS`` (the table is empty
    unless a renewal failed), and at once after this process saw Redis fail. Each pending renewal
    found is made here; those that fail again stay distrusted.
    """
    if not _process.doubt and now - _process.checked_at < settings.LICENSE_STATE_CACHE_RECHECK_SECONDS:
        return _process.distrusted
    from licenses.cache_renewals import PendingCacheRenewal

    _process.doubt = False
    distrusted, renewed = set(), set()
    for pk, organization in PendingCacheRenewal.objects.values_list("pk", "organization_uuid"):
        if _renew(_generation(organization)):
            PendingCacheRenewal.objects.filter(pk=pk).delete()
            renewed.add(str(organization))
        else:
            distrusted.add(str(organization))
    _process.checked_at, _process.distrusted = now, frozenset(distrusted)
    return _process.distrusted | renewed  # the caller's entries were read before these renewals


def forget_process_state(**kwargs) -> None:
    """Forget what this process knows of pending renewals (a new worker; a change of CACHES)."""
    global _process  # noqa: PLW0603 - one state per process
    if kwargs.get("setting", "CACHES") == "CACHES":
        _process = _ProcessState()


setting_changed.connect(forget_process_state)


def clear() -> bool:
    """Every entry is stale (for changes made to the database by hand). False if Redis is unreachable."""
    return _runner() is not None and _renew(_generation())


def _renew(generation: str) -> bool:
    runner = _runner()
    if runner is None:
        return False
    for _attempt in range(2):
        try:
            runner.client.set(runner.make_key(generation), os.urandom(8).hex(), ex=_generation_seconds())
            return True
        except Exception:  # noqa: BLE001, PERF203 - retried once, then reported
            continue
    _process.doubt = True
    logger.error(
        "verdict cache: could not renew the generation %s; its organization is answered from the database"
        " until a worker can (a pending renewal in PostgreSQL)",
        generation,
    )
    return False

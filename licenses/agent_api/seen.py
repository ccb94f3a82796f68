""" "Last seen" and the history of unchanged re-activations: a fleet's heartbeats, coalesced.

Agents heartbeat every few minutes, so nearly every heartbeat finds its machine's "last seen" more
than a minute old. Written to PostgreSQL on each, that is one row written per heartbeat. Instead,
with Redis (``REDIS_URL``):

- every VALID call records its machine's time, to the second, in one Redis hash (``seen-pending``);
- about once a minute one worker of the whole deployment (whichever first takes the flush's claim)
  moves that hash aside, writes all of it to PostgreSQL in one statement per thousand machines
  (``sql.SEEN_UPDATE``), and deletes it. If that worker dies first, the hash it moved aside stays in
  Redis and the next flush writes it with the new one: nothing is lost, and PostgreSQL's "last seen"
  is at most about a minute behind while calls come in (Redis itself is exact);
- the flush runs once the call that asked for it has been answered (``flush_after_answer``, on
  Django's ``request_finished``): it writes a minute of a fleet's heartbeats (some 20,000 rows for
  100,000 agents at 300 s, about a second of work), in no call's transaction, and no agent waits
  for it;
- an unchanged re-activation (the key already bound to this machine) records a history row at most
  once a minute per key and machine, like a heartbeat (``reactivation_recorded``): into a Redis list
  (``reactivations-pending``) that the same flush writes in one statement per thousand rows
  (``sql.HISTORY_BATCH_INSERT``, which skips a row a dead flush already wrote). Such a row reaches
  the key's page within about a minute, after rows that committed meanwhile; every binding, move,
  release, refusal and change is written at once, in its transaction.

A machine is "seen" when it calls with the key bound to it (whatever the verdict: a revoked key's
machine still running shows it), or validly with a temporary key; the verdict cache's round trip
records the first without a round trip of its own (``state_cache``).

Without Redis (the embedded SQLite default) each machine's row is written directly, at most once a
minute, and the history rows of re-activations are coalesced by asking the database.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.signals import request_finished
from django.db import connection

from core import ratelimit
from licenses.agent_api import sql

logger = logging.getLogger(__name__)

PENDING, _FLUSHING, _CLAIM = "seen-pending", "seen-flushing", "seen-flush-claim"
_HISTORY_PENDING, _HISTORY_FLUSHING = "reactivations-pending", "reactivations-flushing"
WAITING = (PENDING, _FLUSHING, _HISTORY_PENDING, _HISTORY_FLUSHING)  # what waits in Redis for a flush to write
_BATCH = 1000  # machines per UPDATE statement, rows per INSERT
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Take the flush's claim (KEYS[3], for ARGV[1] seconds) or return false; then fold what is pending
# (KEYS[1] "last seen" times, KEYS[4] history rows) into what a flush that died left behind (KEYS[2],
# KEYS[5]) and return all of it: {field, value..., }, {row...}.
_TAKE_SCRIPT = """
if not redis.call('SET', KEYS[3], '1', 'NX', 'EX', ARGV[1]) then
    return false
end
local pending = redis.call('HGETALL', KEYS[1])
for index = 1, #pending, 2 do
    redis.call('HSET', KEYS[2], pending[index], pending[index + 1])
end
redis.call('DEL', KEYS[1])
local rows = redis.call('LRANGE', KEYS[4], 0, -1)
for index = 1, #rows do
    redis.call('RPUSH', KEYS[5], rows[index])
end
redis.call('DEL', KEYS[4])
return {redis.call('HGETALL', KEYS[2]), redis.call('LRANGE', KEYS[5], 0, -1)}
"""

# An unchanged re-activation: the first of the minute (KEYS[1] set for ARGV[1] seconds) queues its
# history row (ARGV[2]) on KEYS[2]; with ARGV[5] = 1, also "last seen" (KEYS[3]: UID ARGV[3], time
# ARGV[4]). Returns 1 if the row was queued.
_REACTIVATION_SCRIPT = """
local first = redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1])
if first then
    redis.call('RPUSH', KEYS[2], ARGV[2])
end
if ARGV[5] == '1' then
    redis.call('HSET', KEYS[3], ARGV[3], ARGV[4])
end
return first and 1 or 0
"""


class _Flusher:
    """When this process next asks whether a flush is due (it asks Redis at most every few seconds),
    and whether a call it is answering asked for one."""

    next_try = 0.0
    wanted = False


def flush_after_answer() -> None:
    """Ask for ``flush_if_due`` once the current request has been answered (``request_finished``)."""
    _Flusher.wanted = True


def _flush_if_wanted(**kwargs) -> None:
    if not _Flusher.wanted:
        return
    _Flusher.wanted = False
    try:
        flush_if_due()
    except Exception:  # the call is answered; what this flush took, the next one writes
        logger.exception("last seen: the flush failed; the next one writes what it took")


request_finished.connect(_flush_if_wanted, dispatch_uid="licenses.agent_api.seen.flush")


def machine_seen(machine, now: datetime) -> None:
    """Record that ``machine`` answered a VALID call at ``now``."""
    runner = ratelimit.script_runner()
    if runner is None:
        if (now - machine.last_seen_at).total_seconds() >= settings.MACHINE_SEEN_WRITE_SECONDS:
            type(machine).objects.filter(pk=machine.pk).update(last_seen_at=now)
            machine.last_seen_at = now
        return
    try:
        runner.client.hset(runner.make_key(PENDING), machine.uid, int(now.timestamp()))
    except Exception:  # noqa: BLE001 - Redis is down: write the row itself, once a minute
        logger.warning("last seen: Redis unavailable; writing the machine's row", exc_info=True)
        if (now - machine.last_seen_at).total_seconds() >= settings.MACHINE_SEEN_WRITE_SECONDS:
            type(machine).objects.filter(pk=machine.pk).update(last_seen_at=now)
        return
    flush_after_answer()


def flush_if_due(runner=None, *, force: bool = False) -> int:
    """Write the pending "last seen" times to PostgreSQL if this process takes the minute's flush;
    return how many machines were written."""
    monotonic = time.monotonic()
    if not force and monotonic < _Flusher.next_try:
        return 0
    _Flusher.next_try = monotonic + 5
    runner = runner or ratelimit.script_runner()
    if runner is None:
        return 0
    window = 1 if force else max(1, settings.MACHINE_SEEN_WRITE_SECONDS - 5)
    names = [PENDING, _FLUSHING, _CLAIM, _HISTORY_PENDING, _HISTORY_FLUSHING]
    names = [runner.make_key(name) for name in names]
    if force:
        runner.client.delete(names[2])
    try:
        taken = runner.run(_TAKE_SCRIPT, names, [window])
    except Exception:  # noqa: BLE001 - nothing taken: the next flush writes it
        logger.warning("last seen: could not take the pending times from Redis", exc_info=True)
        return 0
    if not taken:
        return 0
    times, rows = taken
    pairs = [(times[index].decode(), int(times[index + 1])) for index in range(0, len(times), 2)]
    write(pairs)
    history_write([json.loads(row) for row in rows])
    runner.client.delete(names[1], names[4])
    return len(pairs)


def write(pairs: list[tuple[str, int]]) -> None:
    """Write these (machine UID, epoch seconds) pairs' "last seen" to the database."""
    for start in range(0, len(pairs), _BATCH):
        chunk = pairs[start : start + _BATCH]
        uids = [uid for uid, _ in chunk]
        times = [datetime.fromtimestamp(seconds, UTC) for _, seconds in chunk]
        if connection.vendor == "postgresql":
            sql.execute("agent_seen_update", [uids, times])
        else:
            from environments.models import Machine

            for uid, at in zip(uids, times, strict=True):
                Machine.objects.filter(uid=uid, last_seen_at__lt=at).update(last_seen_at=at)


def history_write(rows: list[list]) -> None:
    """Write these queued re-activation rows (key, machine UID, code, actor, address, epoch
    microseconds), each once however often it is written."""
    for start in range(0, len(rows), _BATCH):
        chunk = rows[start : start + _BATCH]
        columns = [list(column) for column in zip(*chunk, strict=True)]
        columns[5] = [_EPOCH + timedelta(microseconds=micros) for micros in columns[5]]
        if connection.vendor == "postgresql":
            sql.execute("agent_history_batch_insert", columns)
        else:
            from licenses.models import ActivationEvent

            for license_id, uid, code, actor, ip, at in zip(*columns, strict=True):
                ActivationEvent.objects.get_or_create(
                    license_id=license_id,
                    machine_uid=uid,
                    event=ActivationEvent.Event.ACTIVATE,
                    created_at=at,
                    defaults={"code": code, "actor_label": actor, "ip": ip},
                )


def reactivation_recorded(license_pk: int, uid: str, code: str, actor: str, ip: str, now: datetime, *, seen: bool):
    """Record an unchanged re-activation with one round trip to Redis: its history row, if it is the
    first of the minute for this key and machine, queued for the flush, and with ``seen`` the
    machine's "last seen" (unless the verdict cache's round trip did). False without Redis, or if
    Redis failed: the caller writes both itself."""
    runner = ratelimit.script_runner()
    if runner is None:
        return False
    micros = (now - _EPOCH) // timedelta(microseconds=1)
    row = json.dumps([license_pk, uid, code, actor, ip, micros], separators=(",", ":"))
    keys = [runner.make_key(f"reactivated:{license_pk}:{uid}"), runner.make_key(_HISTORY_PENDING)]
    keys.append(runner.make_key(PENDING))
    arguments = [settings.MACHINE_SEEN_WRITE_SECONDS, row, uid, int(now.timestamp()), 1 if seen else 0]
    try:
        runner.run(_REACTIVATION_SCRIPT, keys, arguments)
    except Exception:  # noqa: BLE001 - without Redis the database decides
        logger.warning("history: Redis unavailable; writing the re-activation's row", exc_info=True)
        return False
    flush_after_answer()
    return True


def history_due(license_pk: int, uid: str, now: datetime) -> bool:
    """Whether an unchanged re-activation of this key on this machine writes its history row: the
    first in a minute does (with Redis, exactly one of the calls in that minute)."""
    window = settings.MACHINE_SEEN_WRITE_SECONDS
    runner = ratelimit.script_runner()
    if runner is not None:
        try:
            return bool(runner.client.set(runner.make_key(f"reactivated:{license_pk}:{uid}"), 1, nx=True, ex=window))
        except Exception:  # noqa: BLE001 - without Redis the database decides
            logger.warning("history: Redis unavailable; asking the database", exc_info=True)
    from licenses.models import ActivationEvent

    recent = ActivationEvent.objects.filter(
        license_id=license_pk,
        machine_uid=uid,
        event=ActivationEvent.Event.ACTIVATE,
        created_at__gt=now - timedelta(seconds=window),
    )
    return not recent.exists()


# Count a refused call (KEYS[1]: the window's count, for ARGV[1] seconds) and say whether it opens the
# window (the caller writes its row) or its count is due in PostgreSQL (KEYS[2]: once per ARGV[2] ms).
_REFUSAL_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then
    redis.call('EXPIRE', KEYS[1], ARGV[1])
    return {count, 1}
end
if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[2]) then
    return {count, 1}
end
return {count, 0}
"""


def refusal_counted(license_pk: int, uid: str, code: str, now: datetime) -> bool:
    """Count a refused call of this key on this machine with this code into the row of the first one
    in the window (``LICENSE_REFUSAL_HISTORY_SECONDS``); False if there is none, and the caller writes it.

    With Redis, exactly one call in the window writes the row, and the others' count reaches it at
    most once a minute (``LICENSE_REFUSAL_COUNT_WRITE_SECONDS``): a refused heartbeat costs one round trip to
    Redis. Without Redis (the embedded SQLite default) each call adds one to the row itself.
    """
    from django.db.models import F
    from django.db.models.functions import Greatest

    from licenses.models import ActivationEvent

    window = settings.LICENSE_REFUSAL_HISTORY_SECONDS
    rows = ActivationEvent.objects.filter(
        license_id=license_pk,
        machine_uid=uid,
        event=ActivationEvent.Event.REFUSED,
        code=code,
        created_at__gt=now - timedelta(seconds=window),
    )
    latest = ActivationEvent.objects.filter(pk__in=rows.order_by("-created_at", "-id").values("pk")[:1])
    runner = ratelimit.script_runner()
    if runner is not None:
        name = f"refused:{license_pk}:{uid}:{code}"
        keys = [runner.make_key(name), runner.make_key(f"{name}:written")]
        try:
            every = max(1, int(settings.LICENSE_REFUSAL_COUNT_WRITE_SECONDS * 1000))
            count, due = runner.run(_REFUSAL_SCRIPT, keys, [window, every])
        except Exception:  # noqa: BLE001 - without Redis the database counts
            logger.warning("history: Redis unavailable; counting the refusal in the database", exc_info=True)
        else:
            if int(count) == 1:
                return False
            if due:  # the window's row may not be committed yet: the next write brings the count
                latest.update(count=Greatest(F("count"), int(count)))
            return True
    return latest.update(count=F("count") + 1) > 0

"""The sample's agents as the benchmarks prepare them: their machines, their "last seen", and the
verdict cache warmed with their keys."""

from __future__ import annotations

import time
import urllib.error
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.serving import http_post

WARM_THREADS = 8


def fingerprint_uid(fingerprint: dict) -> str:
    from environments.fingerprint import fingerprint_parse

    return fingerprint_parse(fingerprint).uid


def sample_machines(entries: list[dict]) -> tuple[list[int], list[str]]:
    """The database ids and the UIDs of the machines the sample's agents run on."""
    machine_ids = sorted({entry["machine_id"] for entry in entries})
    uids = sorted({fingerprint_uid(entry["fingerprint"]) for entry in entries})
    return machine_ids, uids


def touch(machine_ids: list[int], uids: list[str], *, fresh: bool) -> None:
    """Leave the sample's machines as they are (``fresh``) or mark them seen two minutes ago.

    With Redis every VALID call records "last seen" in Redis and a flush writes the rows in batches
    (``licenses/agent_api/seen.py``), so no call writes its machine's row whatever its age; two
    minutes ago writes the rows and clears the verdict cache, whose rows would otherwise still hold
    a fresher time (what the cells that start from a cold cache measure).
    """
    from django.db import connection

    from licenses.agent_api import state_cache

    del uids  # "last seen" is no longer kept per machine outside the batch
    if fresh:
        return
    at = datetime.now(UTC) - timedelta(minutes=2)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE environments_machine SET last_seen_at = %s WHERE id = ANY(%s)", [at, machine_ids])
    state_cache.clear()


def warm_cache(ports: list[int], requests_file: Path, *, threads: int = WARM_THREADS) -> dict:
    """Send every request of ``requests_file`` to ``validate`` once (``threads`` at a time, spread
    over the instances), so that the verdict cache holds every key of the sample."""
    lines = [line.split("\t", 1) for line in requests_file.read_text().splitlines() if "\t" in line]

    def post(numbered: tuple[int, list[str]]) -> str:
        number, (ip, body) = numbered
        url = f"http://127.0.0.1:{ports[number % len(ports)]}/api/v1/validate"
        try:
            status, verdict = http_post(url, body.encode(), ip)
        except urllib.error.HTTPError as error:
            return f"HTTP {error.code}"
        except OSError as error:
            return type(error).__name__
        return verdict.get("code", str(status))

    started = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        answers = Counter(pool.map(post, enumerate(lines)))
    return {"requests": len(lines), "seconds": round(time.monotonic() - started, 1), "answers": dict(answers)}


def cached_keys(entries: list[dict]) -> dict:
    """How many keys of the sample the verdict cache holds under the current generations (a
    temporary key counts only if its machine's entry is current too)."""
    from licenses import keyformat
    from licenses.agent_api import state_cache

    calls = []
    for entry in entries:
        key = keyformat.key_parse(entry["key"])
        calls.append(
            (keyformat.key_digest(key.text), key.organization_id, fingerprint_uid(entry["fingerprint"]), key.kind)
        )
    return {"warmed_keys": state_cache.cached_count(calls)}

"""Scaling out needs no code change: two gunicorn instances (two hosts behind a load balancer, as
far as the portal can tell) share one PostgreSQL and one Redis, and every rule still holds across
them: a client's rate limit is one count, and a free key binds exactly one machine."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from licenses.models import ActivationEvent, LicenseKey
from tests.conftest import FINGERPRINT, command
from tests.support.servers import free_port, redis_available, redis_forget
from tests.support.servers import test_database_url as database_url_of_this_run

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
PER_KEY_LIMIT = 8
CACHE_KEY_PREFIX = f"scaling-{uuid.uuid4().hex[:8]}"

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def instances(django_db_setup, django_db_blocker):
    """Two portal instances on their own ports, sharing the test database and one Redis."""
    if not redis_available(REDIS_URL):
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    env = {
        **os.environ,
        "DATABASE_URL": database_url_of_this_run(),
        "REDIS_URL": REDIS_URL,
        "CACHE_KEY_PREFIX": CACHE_KEY_PREFIX,
        "API_RATE_LIMIT_PER_KEY": str(PER_KEY_LIMIT),
        "API_RATE_LIMIT_PER_IP": "100000",
    }
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    ports = [free_port(), free_port()]
    processes = [  # started together, so that the two boot in parallel
        subprocess.Popen(
            [gunicorn, "licensing_portal.wsgi", "--preload", "--workers", "2", "--bind", f"127.0.0.1:{port}"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        for url in urls:
            for _ in range(300):
                try:
                    urllib.request.urlopen(f"{url}/healthz", timeout=1)
                    break
                except OSError:
                    time.sleep(0.1)
            else:
                raise RuntimeError(f"gunicorn at {url} did not start")
        yield urls
    finally:
        for process in processes:
            process.send_signal(signal.SIGQUIT)  # quick shutdown: the tests are over
        for process in processes:
            process.wait(timeout=15)
        redis_forget(REDIS_URL, CACHE_KEY_PREFIX)


def post(url: str, endpoint: str, key: str, fingerprint: dict) -> tuple[int, dict]:
    body = json.dumps({"license_key": key, "fingerprint": fingerprint}).encode()
    request = urllib.request.Request(f"{url}/api/v1/{endpoint}", body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def new_machine_key() -> str:
    org = command("create_organization", f"Scale {uuid.uuid4().hex[:6]}")
    command("create_environment", org["id"], "Production")
    return command("issue_key", org["id"], "--kind", "machine", "--environment", "Production")["key"]


def burst(instances: list[str], count: int) -> list[tuple[int, int]]:
    """``count`` validations of one fresh key, alternating between the instances, inside one
    rate-limit window (tried again with another key if a minute boundary fell inside it)."""
    for _ in range(3):
        key = new_machine_key()
        window = int(time.time() // 60)
        answers = [
            (index % len(instances), post(instances[index % len(instances)], "validate", key, FINGERPRINT)[0])
            for index in range(count)
        ]
        if int(time.time() // 60) == window:
            return answers
    raise AssertionError("every burst straddled a minute boundary")


def test_a_burst_over_the_per_key_limit_split_across_two_instances_is_refused(instances):
    answers = burst(instances, 2 * PER_KEY_LIMIT)
    statuses = [status for _, status in answers]
    # One count for both instances: had each counted alone, all 16 would have passed.
    assert statuses == [200] * PER_KEY_LIMIT + [429] * PER_KEY_LIMIT, statuses
    assert {instance for instance, status in answers if status == 200} == {0, 1}
    assert {instance for instance, status in answers if status == 429} == {0, 1}


def test_a_burst_up_to_the_limit_split_across_two_instances_passes(instances):
    assert [status for _, status in burst(instances, PER_KEY_LIMIT)] == [200] * PER_KEY_LIMIT


def test_concurrent_activations_of_one_free_key_across_two_instances_bind_exactly_one(instances):
    key = new_machine_key()
    count = PER_KEY_LIMIT
    results: list = [None] * count
    barrier = threading.Barrier(count)

    def activate(index: int) -> None:
        barrier.wait()
        fingerprint = {**FINGERPRINT, "hostname": f"scale-host-{index}"}
        results[index] = post(instances[index % 2], "activate", key, fingerprint)

    threads = [threading.Thread(target=activate, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    codes = [verdict.get("code") for _, verdict in results]
    assert codes.count("VALID") == 1, codes
    assert codes.count("FINGERPRINT_MISMATCH") == count - 1, codes
    license_key = LicenseKey.objects.get(machine__isnull=False)
    winner = codes.index("VALID")
    assert license_key.machine.hostname == f"scale-host-{winner}"
    assert ActivationEvent.objects.filter(license=license_key, event="activate").count() == 1


def test_a_revocation_reaches_the_cached_verdicts_of_both_instances_at_once(instances, settings):
    """Both instances serve the key from the shared Redis; a revocation made anywhere (here: the
    operator's command, on a third host sharing PostgreSQL and Redis) answers on both at once."""
    import redis

    from licenses import keyformat
    from licenses.agent_api import state_cache

    key = new_machine_key()
    assert post(instances[0], "activate", key, FINGERPRINT)[1]["code"] == "VALID"
    for url in instances + instances:
        status, verdict = post(url, "validate", key, FINGERPRINT)
        assert (status, verdict["code"]) == (200, "VALID")
    entry = f"{CACHE_KEY_PREFIX}:1:{state_cache._entry(keyformat.key_digest(key))}"
    assert redis.Redis.from_url(REDIS_URL).exists(entry)  # served from the cache, not the database

    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": CACHE_KEY_PREFIX,
        }
    }
    command("revoke_key", key)
    assert [post(url, "validate", key, FINGERPRINT)[1]["code"] for url in instances] == ["REVOKED", "REVOKED"]

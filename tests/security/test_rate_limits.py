"""Rate limits: per client address and per key, counted where every worker sees them."""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.request
import uuid

import pytest
from django.core.cache import cache
from django.test import Client

from tests.conftest import FINGERPRINT
from tests.support.servers import gunicorn, redis_available, redis_forget

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def validate(client, key, **headers):
    body = json.dumps({"license_key": key, "fingerprint": FINGERPRINT})
    return client.post("/api/v1/validate", body, content_type="application/json", **headers)


@pytest.fixture(autouse=True)
def fresh_counters():
    cache.clear()
    yield
    cache.clear()


@pytest.mark.django_db
def test_a_burst_under_the_ip_limit_passes_and_over_it_is_refused(settings, machine_key):
    settings.API_RATE_LIMIT_PER_IP = 5
    client = Client(REMOTE_ADDR="192.0.2.10")
    assert [validate(client, machine_key["key"]).status_code for _ in range(5)] == [200] * 5
    refused = validate(client, machine_key["key"])
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "RATE_LIMITED"
    assert validate(Client(REMOTE_ADDR="192.0.2.11"), machine_key["key"]).status_code == 200  # another client


@pytest.mark.django_db
def test_a_forwarded_header_counts_only_when_configured(settings, machine_key):
    settings.API_RATE_LIMIT_PER_IP = 2
    proxy = Client(REMOTE_ADDR="10.0.0.1")
    # Not configured: a client cannot dodge its limit by inventing X-Forwarded-For values.
    codes = [validate(proxy, machine_key["key"], HTTP_X_FORWARDED_FOR=f"198.51.100.{i}").status_code for i in range(3)]
    assert codes == [200, 200, 429]
    cache.clear()
    settings.TRUSTED_PROXY_IP_HEADER = "X-Forwarded-For"
    # Configured: each client behind the proxy has its own count (the proxy appends the real address).
    codes = [
        validate(proxy, machine_key["key"], HTTP_X_FORWARDED_FOR=f"spoofed, 198.51.100.{i}").status_code
        for i in range(3)
    ]
    assert codes == [200, 200, 200]


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_per_key_limit_holds_across_two_gunicorn_workers_sharing_redis(machine_key):
    if not redis_available(REDIS_URL):
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    env = {
        "REDIS_URL": REDIS_URL,
        "CACHE_KEY_PREFIX": prefix,
        "API_RATE_LIMIT_PER_KEY": "10",
        "API_RATE_LIMIT_PER_IP": "100000",
    }
    statuses: list[int] = []
    with gunicorn(workers=2, env=env) as (_, url):

        def call():
            body = json.dumps({"license_key": machine_key["key"], "fingerprint": FINGERPRINT}).encode()
            request = urllib.request.Request(f"{url}/api/v1/validate", body, {"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    statuses.append(response.status)
            except urllib.error.HTTPError as error:
                statuses.append(error.code)

        # The limit counts per minute: start the burst in a window with time left, so that it is one count.
        if 60 - time.time() % 60 < 10:
            time.sleep(60 - time.time() % 60 + 0.1)
        window = int(time.time() // 60)
        threads = [threading.Thread(target=call) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert int(time.time() // 60) == window, "the burst took over 10 seconds"
    redis_forget(REDIS_URL, prefix)
    # Two workers counting alone would have let up to 20 through.
    assert sorted(statuses) == [200] * 10 + [429] * 6, statuses

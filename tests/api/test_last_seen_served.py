""" "Last seen" served by gunicorn: the heartbeat whose call takes the minute's flush is answered
before the flush writes a row (licenses/agent_api/seen.py). A fleet's minute is thousands of rows:
the agent that happened to take it must not wait for them."""

from __future__ import annotations

import json
import os
import time
import urllib.request
import uuid

import psycopg
import pytest

from environments.models import Machine
from tests.conftest import FINGERPRINT, command
from tests.support import servers
from tests.support.servers import gunicorn, redis_available, redis_forget

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def server():
    if not redis_available(REDIS_URL):
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    prefix = f"flush-served-{uuid.uuid4().hex[:8]}"
    env = {"REDIS_URL": REDIS_URL, "CACHE_KEY_PREFIX": prefix, "API_RATE_LIMIT_PER_IP": "100000"}
    with gunicorn(workers=1, env=env) as (_process, url):
        yield url
    redis_forget(REDIS_URL, prefix)


def call(url: str, endpoint: str, key: str) -> dict:
    body = json.dumps({"license_key": key, "fingerprint": FINGERPRINT}).encode()
    request = urllib.request.Request(f"{url}/api/v1/{endpoint}", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def test_the_heartbeat_that_takes_the_flush_is_answered_while_the_flush_waits(server):
    org = command("create_organization", "Flush Served")
    command("create_environment", org["id"], "Production")
    key = command("issue_key", org["id"], "--kind", "machine", "--environment", "Production")["key"]
    assert call(server, "activate", key)["code"] == "VALID"
    bound = Machine.objects.get()
    time.sleep(1.1)  # "last seen" is kept to the second: the heartbeat's time is newer than the binding's
    with psycopg.connect(servers.test_database_url()) as blocker:  # holds the machine's row: the flush's UPDATE waits
        blocker.execute("SELECT 1 FROM environments_machine WHERE id = %s FOR UPDATE", [bound.pk])
        assert call(server, "validate", key)["code"] == "VALID"  # the worker's first call takes the flush
        assert Machine.objects.get().last_seen_at == bound.last_seen_at
        blocker.rollback()
    for _ in range(100):
        if Machine.objects.get().last_seen_at > bound.last_seen_at:
            break
        time.sleep(0.1)
    assert Machine.objects.get().last_seen_at > bound.last_seen_at  # written once the row was free

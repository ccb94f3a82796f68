"""The agent API through a Redis outage: a Redis of the test's own, stopped, frozen and started again.

After an outage every worker counts its rate limits and serves its cache again (no connection is
leaked on the way), and a change committed while Redis was out of reach is never answered from
entries cached before it.
"""

from __future__ import annotations

import pytest
from django.core.cache import cache

from licenses.agent_api import state_cache
from licenses.models import LicenseKey, PendingCacheRenewal
from tests.api.test_state_cache import warm
from tests.conftest import OTHER_MACHINE, Agent, command
from tests.support.redis_server import Link, redis_server

pytestmark = pytest.mark.postgres  # as the cache tests: PostgreSQL is what production runs


def own_cache(settings, url: str, **options) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": "outage-test",
            "OPTIONS": {"socket_connect_timeout": 0.3, "socket_timeout": 0.3, **options},
        }
    }
    settings.LICENSE_STATE_CACHE_SECONDS = 3600
    assert state_cache.is_on()


@pytest.fixture
def own_redis(settings):
    with redis_server() as server:
        # A pool of 10: a worker that lost one connection per failed call ran out of it.
        own_cache(settings, server.url, max_connections=10)
        yield server


@pytest.fixture
def link(settings):
    """A Redis behind a link the test can cut (a partition: Redis keeps its entries)."""
    with redis_server() as server:
        link = Link(server.port)
        own_cache(settings, link.url)
        yield link
        link.cut()


def test_after_an_outage_the_limits_count_again_and_the_cache_works(own_redis, settings, db, machine_key):
    settings.API_RATE_LIMIT_PER_KEY = 5
    agent = Agent()
    assert agent.activate(machine_key["key"])["code"] == "VALID"
    own_redis.stop()
    for _ in range(30):  # failing open meanwhile: the database answers, nothing is counted
        assert agent.validate(machine_key["key"])["code"] == "VALID"
    own_redis.start()  # the same port, empty
    cache.set("outage-probe", "back")
    assert cache.get("outage-probe") == "back"
    codes = [agent.call("validate", machine_key["key"]).status_code for _ in range(6)]
    assert codes == [200] * 5 + [429], codes
    assert own_redis.client().keys("*ks:*"), "the cache stores entries again"


def test_a_key_revoked_while_redis_is_unreachable_is_refused_when_it_returns(link, db, machine_key):
    agent = Agent()
    assert agent.activate(machine_key["key"])["code"] == "VALID"
    warm(agent, machine_key["key"])
    link.cut()
    assert command("revoke_key", machine_key["id"])["status"] == "revoked"
    link.restore()
    assert agent.validate(machine_key["key"])["code"] == "REVOKED"


def test_another_worker_refuses_the_stale_entries_too(link, db, machine_key):
    """A worker that took no call during the outage has seen no Redis error: it learns of the
    change that could not reach Redis from PostgreSQL, where the change recorded it."""
    agent = Agent()
    assert agent.activate(machine_key["key"])["code"] == "VALID"
    warm(agent, machine_key["key"])
    link.cut()
    command("revoke_key", machine_key["id"])
    link.restore()
    state_cache.forget_process_state()  # this process now knows what a fresh worker knows
    assert agent.validate(machine_key["key"])["code"] == "REVOKED"
    # The worker renewed the organization's generation: nothing is pending, the cache serves again.
    assert not PendingCacheRenewal.objects.exists()
    other = command("issue_key", organization_of(machine_key), "--kind", "machine", "--environment", "Production")
    assert Agent(fingerprint=OTHER_MACHINE).activate(other["key"])["code"] == "VALID"
    warm(Agent(fingerprint=OTHER_MACHINE), other["key"])


def organization_of(issued: dict) -> str:
    return str(LicenseKey.objects.get(public_id=issued["id"]).organization.uuid)


def test_a_reply_that_comes_after_the_time_out_is_never_read_as_the_next_calls(settings):
    """Redis frozen during a script: the call times out (the caller fails open). Thawed, Redis sends
    that call's late reply; the scripts' connection was dropped at the time-out, so the next script
    reads its own reply, not the one left on the old socket."""
    from redis.exceptions import TimeoutError as RedisTimeoutError

    from core import ratelimit

    with redis_server() as server:
        own_cache(settings, server.url)
        runner = ratelimit.script_runner()
        assert runner.run("return ARGV[1]", [], ["warm"]) == b"warm"
        server.freeze()
        try:
            with pytest.raises(RedisTimeoutError):
                runner.run("return ARGV[1]", [], ["late"])
        finally:
            server.thaw()
        assert [runner.run("return ARGV[1]", [], [f"call {n}"]) for n in range(3)] == [b"call 0", b"call 1", b"call 2"]

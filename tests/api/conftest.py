"""Fixtures of the agent API's tests."""

from __future__ import annotations

import os
import uuid

import pytest

from licenses.agent_api import state_cache
from tests.support.servers import redis_available, redis_forget

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def cache_on(settings):
    """The default cache in a real Redis, under a prefix of this test's own."""
    if not redis_available(REDIS_URL):
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    prefix = f"verdict-test-{uuid.uuid4().hex[:10]}"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": prefix,
        }
    }
    settings.LICENSE_STATE_CACHE_SECONDS = 3600
    # Pending renewals are read on a call's first use of the cache, then not again during the test
    # (a read in the middle would show in the tests that count a call's queries).
    settings.LICENSE_STATE_CACHE_RECHECK_SECONDS = 3600
    assert state_cache.is_on()
    yield settings
    redis_forget(REDIS_URL, prefix)

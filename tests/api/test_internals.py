"""The Django and redis-py internals that the agent API relies on (listed in licenses/agent_api/__init__.py).

Each test fails if an upgrade changes what the hot path expects of it."""

from __future__ import annotations

import inspect

import pytest
from django.db import connection
from django.db.backends.base.base import BaseDatabaseWrapper

from core import ratelimit
from licenses import agent_api


def test_the_list_names_every_internal_pinned_here():
    for name in ("BaseDatabaseWrapper.connection", "BaseDatabaseWrapper.health_check_done", "RedisCache._cache"):
        assert name in agent_api.__doc__


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_wrapper_holds_its_raw_connection_and_a_new_one_after_close():
    connection.ensure_connection()
    raw = connection.connection
    assert raw is not None and hasattr(raw, "cursor")
    connection.close()
    connection.ensure_connection()
    assert connection.connection is not raw


def test_django_skips_its_health_check_once_the_flag_is_set():
    source = inspect.getsource(BaseDatabaseWrapper.close_if_health_check_failed)
    assert "health_check_done" in source
    ensure = inspect.getsource(BaseDatabaseWrapper.ensure_connection) + inspect.getsource(BaseDatabaseWrapper._cursor)
    assert "close_if_health_check_failed" in ensure


def test_the_redis_cache_backend_gives_its_redis_py_client(cache_on):
    from django.core.cache import cache
    from django.core.cache.backends.redis import RedisCacheClient
    from redis import Redis

    assert isinstance(cache._cache, RedisCacheClient)
    client = cache._cache.get_client(write=True)
    assert isinstance(client, Redis)
    assert client.connection_pool is cache._cache.get_client(write=True).connection_pool  # one pool
    runner = ratelimit.script_runner()
    assert runner.client.connection_pool is client.connection_pool

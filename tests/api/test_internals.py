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
    for name in (
        "BaseDatabaseWrapper.connection",
        "BaseDatabaseWrapper.health_check_done",
        "RedisCache._cache",
        "Connection.read_response",
    ):
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


def test_a_pooled_connection_sends_a_command_hiredis_packed_and_reads_its_reply(cache_on):
    """redis-py's connection API as the scripts use it: a command packed by hiredis goes out as is, its
    reply comes back as the client would give it, an error reply is raised as the client's exception
    (a missing script as ``NoScriptError``), and the connection stays usable after it."""
    import hiredis
    from redis.exceptions import NoScriptError

    connection = ratelimit.script_runner().client.connection_pool.get_connection()
    try:
        connection.send_packed_command(
            [hiredis.pack_command(("EVAL", "return {1, ARGV[1]}", 0, "x"))], check_health=False
        )
        assert connection.read_response() == [1, b"x"]
        connection.send_packed_command([hiredis.pack_command(("EVALSHA", "0" * 40, 0))], check_health=False)
        with pytest.raises(NoScriptError):
            connection.read_response()
        connection.send_packed_command([hiredis.pack_command(("PING",))], check_health=False)
        assert connection.read_response() in (b"PONG", "PONG", True)
    finally:
        connection.disconnect()

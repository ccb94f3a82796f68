"""The agent API's verdict cache (licenses/agent_api/state_cache.py), through HTTP, PostgreSQL and a real Redis.

A heartbeat whose key is cached reads no database; every change an administrator or an agent makes
answers on the very next call; time still ends keys on time; "last seen" is still written once a
minute; and without Redis everything still works from the database.
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from redis.exceptions import ResponseError

from core import ratelimit
from environments.models import Environment, Machine
from licenses import keyformat, services
from licenses.agent_api import sql, state_cache
from licenses.bindings import environment_set_status, machine_detach
from licenses.models import ActivationEvent, LicenseKey
from organizations.models import Organization
from organizations.services import organization_update
from tests.conftest import OTHER_MACHINE, Agent, command

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

pytestmark = pytest.mark.postgres  # the temporary key's machine row is cached on PostgreSQL only


@pytest.fixture
def keys(machine_key, server_key, trial_key, temporary_key):
    return {"machine": machine_key, "server": server_key, "trial": trial_key, "temporary": temporary_key}


def queries_of(call) -> tuple[dict, list[str]]:
    with CaptureQueriesContext(connection) as captured:
        verdict = call()
    return verdict, [query["sql"] for query in captured]


def warm(agent: Agent, key: str) -> dict:
    """Validate until the key is served from the cache (the first call reads and stores it)."""
    agent.validate(key)
    verdict, sql = queries_of(lambda: agent.validate(key))
    assert sql == [], sql
    return verdict


@pytest.fixture
def registered(cache_on, agent, machine_key):
    assert agent.activate(machine_key["key"])["code"] == "VALID"
    return agent


# A cached heartbeat ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["machine", "server", "trial", "temporary"])
def test_a_cached_heartbeat_reads_no_database_and_answers_as_the_database_would(registered, keys, kind):
    if kind != "temporary":
        assert registered.activate(keys[kind]["key"])["code"] == "VALID"
    state_cache.clear()  # (an activation caches the key too)
    first, sql = queries_of(lambda: registered.validate(keys[kind]["key"]))
    assert first["code"] == "VALID" and sql  # read from PostgreSQL, then cached
    second, sql = queries_of(lambda: registered.validate(keys[kind]["key"]))
    assert sql == []
    assert {**second, "time": None} == {**first, "time": None}


def test_a_cached_reactivation_sends_no_sql_and_its_history_row_comes_with_the_flush(registered, machine_key):
    from licenses.agent_api import seen

    registered.validate(machine_key["key"])  # cached now
    seen.flush_if_due(force=True)
    events = ActivationEvent.objects.count()
    verdict, sql = queries_of(lambda: registered.activate(machine_key["key"]))
    assert verdict["code"] == "VALID" and verdict["activation"]
    assert sql == []
    assert ActivationEvent.objects.count() == events
    seen.flush_if_due(force=True)
    assert ActivationEvent.objects.count() == events + 1
    assert ActivationEvent.objects.latest("id").event == ActivationEvent.Event.ACTIVATE


def test_cached_rows_are_only_used_for_the_machine_they_are_bound_to(registered, machine_key):
    warm(registered, machine_key["key"])
    stranger = Agent(fingerprint=OTHER_MACHINE)
    verdict, sql = queries_of(lambda: stranger.validate(machine_key["key"]))
    assert verdict["code"] == "FINGERPRINT_MISMATCH"
    assert sql  # another machine: the database decides


def test_a_key_that_is_not_bound_is_never_served_from_the_cache(cache_on, agent, machine_key):
    for _ in range(2):
        verdict, sql = queries_of(lambda: agent.validate(machine_key["key"]))
        assert verdict["code"] == "NOT_ACTIVATED" and sql


# Every change answers at once -----------------------------------------------------------------------


def _organization(org):
    return Organization.objects.get(uuid=org["id"])


def _key(data):
    return LicenseKey.objects.get(public_id=data["id"])


CHANGES = {
    "revoke": (lambda org, key: command("revoke_key", key["id"]), "REVOKED"),
    "suspend the organization": (
        lambda org, key: command("set_organization_status", org["id"], "suspended"),
        "SUSPENDED",
    ),
    "end the subscription": (
        lambda org, key: organization_update(
            organization=_organization(org),
            actor=None,
            subscription_ends_at=timezone.now() - timedelta(seconds=1),
            subscription_starts_at=timezone.now() - timedelta(days=30),
        ),
        "SUBSCRIPTION_EXPIRED",
    ),
    "disable the environment": (
        lambda org, key: command("set_environment_status", org["id"], "Production", "disabled"),
        "ENVIRONMENT_DISABLED",
    ),
    "delete the environment": (
        lambda org, key: command("set_environment_status", org["id"], "Production", "deleted"),
        "ENVIRONMENT_DISABLED",
    ),
    "detach the machine": (lambda org, key: command("detach_machine", Machine.objects.get().uid), "NOT_ACTIVATED"),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_every_change_answers_on_the_next_heartbeat(registered, machine_key, org, change):
    warm(registered, machine_key["key"])
    make, code = CHANGES[change]
    make(org, machine_key)
    assert registered.validate(machine_key["key"])["code"] == code


def test_a_re_enabled_environment_answers_valid_again(registered, machine_key, org):
    warm(registered, machine_key["key"])
    environment = Environment.objects.get(name="Production")
    environment_set_status(environment=environment, actor=None, status="disabled")
    assert registered.validate(machine_key["key"])["code"] == "ENVIRONMENT_DISABLED"
    warm(registered, machine_key["key"])
    environment_set_status(environment=environment, actor=None, status="enabled")
    assert registered.validate(machine_key["key"])["code"] == "VALID"


def test_a_deactivated_key_is_not_activated_on_the_next_heartbeat(registered, machine_key):
    warm(registered, machine_key["key"])
    assert registered.deactivate(machine_key["key"])["code"] == "DEACTIVATED"
    assert registered.validate(machine_key["key"])["code"] == "NOT_ACTIVATED"


def test_an_edited_server_key_answers_with_its_new_status_and_date(cache_on, server_key):
    agent = Agent()
    assert agent.activate(server_key["key"])["code"] == "VALID"
    warm(agent, server_key["key"])
    later = (timezone.now() + timedelta(days=400)).date()
    services.license_update(license_key=_key(server_key), actor=None, description="", status="active", expires_on=later)
    assert agent.validate(server_key["key"])["license"]["expires_at"] == f"{later + timedelta(days=1)}T00:00:00Z"
    warm(agent, server_key["key"])
    services.license_update(
        license_key=_key(server_key), actor=None, description="", status="inactive", expires_on=later
    )
    assert agent.validate(server_key["key"])["code"] == "SUSPENDED"


def test_a_temporary_key_stops_when_its_machine_stops_being_registered(registered, machine_key, temporary_key):
    warm(registered, temporary_key["key"])
    command("revoke_key", machine_key["id"])  # the machine no longer holds a key of Acme
    assert registered.validate(temporary_key["key"])["code"] == "MACHINE_NOT_REGISTERED"


def test_a_new_organization_name_is_in_the_next_verdict(registered, machine_key, org):
    warm(registered, machine_key["key"])
    organization_update(organization=_organization(org), actor=None, name="Acme Holdings")
    assert registered.validate(machine_key["key"])["license"]["organization"]["name"] == "Acme Holdings"


def test_a_change_in_another_organization_leaves_this_one_cached(registered, machine_key, other_org):
    warm(registered, machine_key["key"])
    command("set_organization_status", other_org["id"], "suspended")
    verdict, sql = queries_of(lambda: registered.validate(machine_key["key"]))
    assert verdict["code"] == "VALID" and sql == []


# Time, details and "last seen" ----------------------------------------------------------------------


def at(monkeypatch, moment: datetime) -> None:
    monkeypatch.setattr("licenses.agent_api.flow.now_utc", lambda: moment)


def test_a_cached_key_still_ends_on_time(registered, temporary_key, monkeypatch):
    warm(registered, temporary_key["key"])
    at(monkeypatch, timezone.now() + timedelta(hours=2, seconds=1))
    verdict, sql = queries_of(lambda: registered.validate(temporary_key["key"]))
    assert verdict["code"] == "EXPIRED"
    # The time is never cached, only the rows are: nothing read; the one statement records the refusal.
    assert [statement for statement in sql if "agent_history_insert" not in statement] == []


def test_a_changed_detail_on_a_cached_heartbeat_is_written_once_and_kept(registered, machine_key):
    warm(registered, machine_key["key"])
    registered.fingerprint["product_version"] = "4.4.9"  # a patch release: the same machine
    verdict, sql = queries_of(lambda: registered.validate(machine_key["key"]))
    assert verdict["code"] == "VALID"
    assert any(statement.startswith("UPDATE") for statement in sql)
    assert Machine.objects.get().product_version == "4.4.9"
    registered.validate(machine_key["key"])  # the organization's rows are read again, with the new version
    verdict, sql = queries_of(lambda: registered.validate(machine_key["key"]))
    assert sql == []
    assert ActivationEvent.objects.filter(event="validate").count() == 1


def _prefetch_for(key_text: str, uid: str) -> state_cache.Prefetch:
    kind, organization = keyformat.key_route(key_text)
    return state_cache.prefetch(
        [], digest=keyformat.key_digest(key_text), organization=organization, uid=uid, kind=kind
    )


# Generations ----------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_rows_read_before_a_change_are_never_served_after_it_commits(cache_on, machine_key):
    """A heartbeat that read the key just before a revocation committed, and stores what it read
    just after, stores it under the generation the revocation replaced: it is never read back."""
    agent = Agent()
    assert agent.activate(machine_key["key"])["code"] == "VALID"
    uid = Machine.objects.get().uid
    before = _prefetch_for(machine_key["key"], uid)
    stale_row = sql.execute("agent_verdict_by_digest", [keyformat.key_digest(machine_key["key"])])
    command("revoke_key", machine_key["id"])  # commits (no test transaction here), then renews
    state_cache.store(before, key_row=stale_row)
    assert agent.validate(machine_key["key"])["code"] == "REVOKED"


def test_a_change_made_by_hand_shows_after_clear_verdict_cache(registered, machine_key):
    warm(registered, machine_key["key"])
    LicenseKey.objects.filter(public_id=machine_key["id"]).update(status="inactive")  # no service, no audit
    assert registered.validate(machine_key["key"])["code"] == "VALID"  # the cache cannot know
    assert command("clear_verdict_cache") == {"cleared": True}
    assert registered.validate(machine_key["key"])["code"] == "SUSPENDED"


def test_clear_verdict_cache_says_so_when_there_is_no_cache(db):
    assert command("clear_verdict_cache")["cleared"] is False


# Without the cache ----------------------------------------------------------------------------------


def test_an_unreachable_redis_falls_back_to_the_database(settings, agent, machine_key):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    settings.LICENSE_STATE_CACHE_SECONDS = 3600
    assert agent.activate(machine_key["key"])["code"] == "VALID"
    for _ in range(2):
        verdict, sql = queries_of(lambda: agent.validate(machine_key["key"]))
        assert verdict["code"] == "VALID" and len(sql) == 1
    command("revoke_key", machine_key["id"])  # its generation cannot be renewed: nothing to renew
    assert agent.validate(machine_key["key"])["code"] == "REVOKED"


def test_with_the_cache_turned_off_every_heartbeat_reads_the_database(cache_on, agent, machine_key):
    cache_on.LICENSE_STATE_CACHE_SECONDS = 0
    assert not state_cache.is_on()
    assert agent.activate(machine_key["key"])["code"] == "VALID"
    for _ in range(2):
        verdict, sql = queries_of(lambda: agent.validate(machine_key["key"]))
        # The minute's "last seen" flush may fall on either call; it is not a read of the key.
        reads = [statement for statement in sql if "agent_seen_update" not in statement]
        assert verdict["code"] == "VALID" and len(reads) == 1 and "agent_verdict_by_digest" in reads[0]


def test_rate_limits_still_hold_with_the_cache(cache_on, agent, machine_key):
    cache_on.API_RATE_LIMIT_PER_KEY = 3
    assert agent.activate(machine_key["key"])["code"] == "VALID"
    statuses = [agent.call("validate", machine_key["key"]).status_code for _ in range(4)]
    assert statuses == [200, 200, 429, 429]  # the activation counted too


def test_a_malformed_key_is_counted_and_not_looked_up_in_the_cache(cache_on, agent):
    verdict, sql = queries_of(lambda: agent.validate("not a key at all"))
    assert verdict["code"] == "NOT_FOUND" and sql == []


def test_an_unknown_key_is_not_cached(cache_on, agent, org):
    from licenses import signing

    unknown = keyformat.key_build(
        kind="machine",
        organization_id=uuid.UUID(org["id"]),
        issued_at=timezone.now(),
        private_key=signing.keyring().active.private_key,
    )
    agent.validate(unknown)  # the first call also reads the renewals pending from the fixtures' changes
    for _ in range(2):
        verdict, sql = queries_of(lambda: agent.validate(unknown))
        assert verdict["code"] == "NOT_FOUND" and len(sql) == 1


def test_generations_expire_unless_read_so_made_up_organizations_leave_nothing(cache_on, registered, machine_key, org):
    """A well-formed key of an organization that has no keys (anyone can make one up: the checksum is
    no secret) leaves a generation in Redis; it expires, as the entries do. A generation in use is
    kept alive by its reads, and a renewed one expires too."""
    from licenses import signing

    runner = ratelimit.script_runner()
    lifetime = 2 * cache_on.LICENSE_STATE_CACHE_SECONDS
    invented = uuid.uuid4()
    made_up = keyformat.key_build(
        kind="machine",
        organization_id=invented,
        issued_at=timezone.now(),
        private_key=signing.keyring().active.private_key,
    )
    assert registered.validate(made_up)["code"] == "NOT_FOUND"
    assert 0 < runner.client.ttl(runner.make_key(f"kg:{invented}")) <= lifetime
    runner.client.expire(runner.make_key(f"kg:{org['id']}"), 5)
    assert registered.validate(machine_key["key"])["code"] == "VALID"
    assert runner.client.ttl(runner.make_key(f"kg:{org['id']}")) > lifetime - 5  # read: kept for another lifetime
    state_cache.organization_changed(org["id"])
    assert 0 < runner.client.ttl(runner.make_key(f"kg:{org['id']}")) <= lifetime


def test_machine_detach_service_renews_the_generation(registered, machine_key):
    warm(registered, machine_key["key"])
    machine_detach(machine=Machine.objects.get(), actor=None)
    assert registered.validate(machine_key["key"])["code"] == "NOT_ACTIVATED"
    # Activated again, it is bound and cached again: the cache follows the binding both ways.
    assert registered.activate(machine_key["key"])["code"] == "VALID"
    registered.validate(machine_key["key"])
    verdict, sql = queries_of(lambda: registered.validate(machine_key["key"]))
    assert verdict["code"] == "VALID" and sql == []


def test_the_cache_holds_no_key_text_encrypted_or_plain(registered, machine_key):
    warm(registered, machine_key["key"])
    runner = ratelimit.script_runner()
    names = runner.client.scan_iter(match=runner.make_key("*"))
    entries = [runner.client.get(name) for name in names if runner.client.type(name) == b"string"]
    stored = _key(machine_key)
    assert any(entry and stored.digest.encode() in entry for entry in entries)  # the key's row is there
    assert not any(entry and stored.encrypted_key.encode() in entry for entry in entries)
    assert not any(entry and machine_key["key"].encode() in entry for entry in entries)
    assert registered.validate(machine_key["key"])["code"] == "VALID"


def test_cached_count_says_which_calls_would_find_their_rows(registered, keys):
    uid = Machine.objects.get().uid
    calls = [
        (keyformat.key_digest(keys[kind]["key"]), _key(keys[kind]).organization.uuid, uid, kind)
        for kind in ("machine", "temporary")
    ]
    assert state_cache.cached_count(calls) == 0
    warm(registered, keys["machine"]["key"])
    warm(registered, keys["temporary"]["key"])
    assert state_cache.cached_count(calls) == 2
    state_cache.clear()
    assert state_cache.cached_count(calls) == 0


def test_a_flushed_redis_loads_the_script_again_and_still_counts(registered, machine_key, settings):
    """Redis restarted or its scripts flushed: the hot path's EVALSHA finds no script, loads it, runs it."""
    warm(registered, machine_key["key"])
    runner = ratelimit.script_runner()
    runner.client.script_flush()
    verdict, sql = queries_of(lambda: registered.validate(machine_key["key"]))
    assert verdict["code"] == "VALID" and sql == []  # the cached rows, fetched by the reloaded script
    settings.API_RATE_LIMIT_PER_KEY = 1  # and the limits are still counted by it
    assert registered.call("validate", machine_key["key"]).status_code == 429


def test_a_dropped_redis_connection_is_replaced_within_the_call(registered, machine_key):
    warm(registered, machine_key["key"])
    client = ratelimit.script_runner().client
    killed = client.client_kill_filter(_type="normal", skipme=True)
    assert killed >= 1  # the pooled connection the heartbeat used
    verdict, sql = queries_of(lambda: registered.validate(machine_key["key"]))
    assert verdict["code"] == "VALID" and sql == []  # answered from the cache over a new connection


def _custom_key(key, key_prefix, version):
    return f"custom/{key_prefix}/{version}/{key}"


@pytest.mark.parametrize("key_function", [None, f"{__name__}._custom_key"])
def test_the_hot_path_names_its_keys_as_the_cache_does(cache_on, key_function):
    """What the scripts write is what ``cache`` reads, with Django's key function or a custom one,
    and after the cache settings change the runner follows them."""
    from django.core.cache import cache

    if key_function:
        cache_on.CACHES = {"default": {**cache_on.CACHES["default"], "KEY_FUNCTION": key_function}}
    runner = ratelimit.script_runner()
    assert runner.make_key("x") == cache.make_key("x")
    assert runner.run("return redis.call('SET', KEYS[1], ARGV[1])", [runner.make_key("named")], [7]) == b"OK"
    assert int(cache.get("named")) == 7
    cache.delete("named")  # under a custom key function it is outside the fixture's prefix
    cache_on.CACHES = {"default": {**cache_on.CACHES["default"], "KEY_PREFIX": "another"}}
    assert ratelimit.script_runner().make_key("x") == cache.make_key("x")
    assert "another" in cache.make_key("x")


def test_an_error_reply_reaches_the_caller_and_the_next_call_works(cache_on):
    runner = ratelimit.script_runner()
    with pytest.raises(ResponseError):
        runner.run("return redis.call('INCR', KEYS[1], 'not', 'a', 'command')", [runner.make_key("x")], [])
    assert runner.run("return 7", [], []) == 7


def test_the_pool_keeps_its_connections_through_many_calls(registered, machine_key):
    """Every call gives its connection back: fifty heartbeats use one."""
    pool = ratelimit.script_runner().client.connection_pool
    for _ in range(50):
        registered.validate(machine_key["key"])
    assert len(pool._available_connections) + len(pool._in_use_connections) <= 2


def test_rows_cached_by_a_release_with_other_columns_are_never_read(registered, machine_key, monkeypatch):
    """A rolling deploy runs two releases at once: a row cached with the old columns would be read
    field by field into the wrong attributes by the new code, so each release has entries of its own."""
    warm(registered, machine_key["key"])
    layout = state_cache.row_layout()
    monkeypatch.setattr(state_cache, "ROW_FORMAT", state_cache.ROW_FORMAT + 1)  # as a changed model would
    state_cache.row_layout.cache_clear()
    try:
        assert state_cache.row_layout() != layout
        verdict, sql = queries_of(lambda: registered.validate(machine_key["key"]))
        assert verdict["code"] == "VALID" and len(sql) == 1  # read from the database, not the old entry
        verdict, sql = queries_of(lambda: registered.validate(machine_key["key"]))
        assert verdict["code"] == "VALID" and sql == []  # and cached under the new layout
    finally:
        state_cache.row_layout.cache_clear()

""" "Last seen" at fleet scale (licenses/agent_api/seen.py): exact in Redis on every call, written to
PostgreSQL in batches, at most about once a minute, nothing lost when a flush dies half-way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core import ratelimit
from environments.fingerprint import fingerprint_parse
from environments.models import Machine
from licenses.agent_api import seen
from tests.api.test_hot_path import statement_kind, writes
from tests.api.test_state_cache import at, warm
from tests.conftest import FINGERPRINT, OTHER_MACHINE, Agent, command

pytestmark = pytest.mark.postgres


def pending() -> dict:
    runner = ratelimit.script_runner()
    return {uid.decode(): int(value) for uid, value in runner.client.hgetall(runner.make_key("seen-pending")).items()}


@pytest.fixture
def two_machines(cache_on, org, machine_key):
    other = command("issue_key", org["id"], "--kind", "machine", "--environment", "Production")
    agents = [(Agent(), machine_key["key"]), (Agent(fingerprint=OTHER_MACHINE), other["key"])]
    for agent, key in agents:
        assert agent.activate(key)["code"] == "VALID"
    seen.flush_if_due(force=True)
    return agents


def test_heartbeats_write_no_row_and_redis_knows_each_time(two_machines, monkeypatch):
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=5)
    for agent, key in two_machines:
        warm(agent, key)
    for seconds in (0, 61, 200):  # "last seen" due every time, as in a fleet
        at(monkeypatch, start + timedelta(seconds=seconds))
        for agent, key in two_machines:
            with CaptureQueriesContext(connection) as captured:
                assert agent.validate(key)["code"] == "VALID"
            assert writes(captured) == []
    assert set(pending().values()) == {int((start + timedelta(seconds=200)).timestamp())}
    assert all(machine.last_seen_at < start for machine in Machine.objects.all())


def test_one_statement_writes_every_pending_machine(two_machines, monkeypatch):
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=5)
    at(monkeypatch, start)
    for agent, key in two_machines:
        agent.validate(key)
    with CaptureQueriesContext(connection) as captured:
        assert seen.flush_if_due(force=True) == 2
    assert [statement_kind(query["sql"]) for query in captured] == ["UPDATE"]
    assert {machine.last_seen_at for machine in Machine.objects.all()} == {start}
    assert pending() == {}


def test_a_flush_takes_the_minute_so_others_write_nothing(two_machines, monkeypatch):
    at(monkeypatch, datetime.now(UTC) + timedelta(minutes=5))
    two_machines[0][0].validate(two_machines[0][1])
    runner = ratelimit.script_runner()
    runner.client.set(runner.make_key("seen-flush-claim"), "1", ex=60)  # another worker flushed just now
    seen._Flusher.next_try = 0
    assert seen.flush_if_due() == 0
    assert len(pending()) == 1  # kept for the next minute's flush


def test_a_flush_that_died_is_written_by_the_next_one(two_machines, monkeypatch):
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=5)
    at(monkeypatch, start)
    first, second = two_machines
    first[0].validate(first[1])
    monkeypatch.setattr(seen, "write", lambda pairs: (_ for _ in ()).throw(RuntimeError("worker killed")))
    with pytest.raises(RuntimeError):
        seen.flush_if_due(force=True)  # took the pending times, died before writing them
    monkeypatch.undo()
    at(monkeypatch, start + timedelta(seconds=70))
    second[0].validate(second[1])
    assert seen.flush_if_due(force=True) == 2
    times = {machine.uid: machine.last_seen_at for machine in Machine.objects.all()}
    assert sorted(times.values()) == [start, start + timedelta(seconds=70)]


def test_an_older_time_never_overwrites_a_newer_one(two_machines):
    machine = Machine.objects.first()
    newer = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=10)
    Machine.objects.filter(pk=machine.pk).update(last_seen_at=newer)
    seen.write([(machine.uid, int((newer - timedelta(minutes=1)).timestamp()))])
    assert Machine.objects.get(pk=machine.pk).last_seen_at == newer


def test_unchanged_reactivations_write_history_once_a_minute_per_key_and_machine(two_machines, monkeypatch):
    from licenses.models import ActivationEvent

    agent, key = two_machines[0]
    start = datetime.now(UTC) + timedelta(minutes=5)
    at(monkeypatch, start)
    events = ActivationEvent.objects.count()
    for _ in range(3):
        with CaptureQueriesContext(connection) as captured:
            assert agent.activate(key)["code"] == "VALID"
        assert writes(captured) == []  # queued in Redis, like "last seen"
    other_agent, other_key = two_machines[1]
    assert other_agent.activate(other_key)["code"] == "VALID"  # another key and machine: its own row
    assert ActivationEvent.objects.count() == events
    seen.flush_if_due(force=True)
    assert ActivationEvent.objects.count() == events + 2


def test_a_reactivation_row_that_a_dead_flush_wrote_is_not_written_again(two_machines, monkeypatch):
    from licenses.models import ActivationEvent

    agent, key = two_machines[0]
    at(monkeypatch, datetime.now(UTC) + timedelta(minutes=5))
    events = ActivationEvent.objects.count()
    assert agent.activate(key)["code"] == "VALID"
    written = seen.history_write

    def write_then_die(rows):
        written(rows)
        raise RuntimeError("worker killed after the commit")

    monkeypatch.setattr(seen, "history_write", write_then_die)
    with pytest.raises(RuntimeError):
        seen.flush_if_due(force=True)
    monkeypatch.setattr(seen, "history_write", written)
    assert seen.flush_if_due(force=True) >= 0  # the next flush takes what the dead one left
    assert ActivationEvent.objects.count() == events + 1
    runner = ratelimit.script_runner()
    assert runner.client.llen(runner.make_key("reactivations-flushing")) == 0


def test_a_machine_is_seen_when_it_calls_with_its_own_key_whatever_the_verdict(two_machines, org, monkeypatch):
    agent, key = two_machines[0]
    warm(agent, key)
    seen.flush_if_due(force=True)
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=5)
    at(monkeypatch, start)
    with CaptureQueriesContext(connection) as captured:
        assert agent.validate(key)["code"] == "VALID"  # cached: recorded in the verdict cache's round trip
    assert captured.captured_queries == []
    assert list(pending().values()) == [int(start.timestamp())]
    command("set_organization_status", org["id"], "suspended")
    at(monkeypatch, start + timedelta(seconds=30))
    assert agent.validate(key)["code"] == "SUSPENDED"  # the machine still runs: its admin sees it
    assert list(pending().values()) == [int(start.timestamp()) + 30]


def test_the_flush_rewrites_each_row_in_place_touching_no_index(two_machines, monkeypatch):
    """No index holds ``last_seen_at`` and each page has room, so PostgreSQL updates the rows where
    they are (HOT): a flush of a fleet's heartbeats writes no index entry."""
    at(monkeypatch, datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=5))
    for agent, key in two_machines:
        agent.validate(key)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relname = %s", ["environments_machine"]
        )
        before = cursor.fetchone()
        assert seen.flush_if_due(force=True) == 2
        cursor.execute(
            "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relname = %s", ["environments_machine"]
        )
        updated, in_place = (after - earlier for after, earlier in zip(cursor.fetchone(), before, strict=True))
    assert (updated, in_place) == (2, 2)


@pytest.mark.django_db(transaction=True)  # the failed call closes its connection, as in production
def test_times_the_flush_took_are_not_lost_when_the_call_that_took_it_fails(two_machines, org, monkeypatch):
    """The flush deletes what it took from Redis once written: had it run inside a call's
    transaction (a temporary key's activation sees its machine in one) and that transaction failed,
    the rows it wrote would roll back with it and the times be gone."""
    from django.db import DatabaseError

    from licenses.agent_api import flow

    start = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=5)
    at(monkeypatch, start)
    (agent, key), (other_agent, _) = two_machines
    assert agent.validate(key)["code"] == "VALID"  # its time waits in Redis for the flush
    temporary = command("issue_key", org["id"], "--kind", "temporary", "--ttl", "4h")["key"]
    monkeypatch.setattr(flow, "history", lambda *args, **kwargs: (_ for _ in ()).throw(DatabaseError("disk full")))
    runner = ratelimit.script_runner()
    runner.client.delete(runner.make_key("seen-flush-claim"))
    seen._Flusher.next_try = 0  # the failing call is the one that takes the flush
    assert other_agent.call("activate", temporary).status_code == 500
    seen.flush_if_due(force=True)  # whatever is still pending
    assert Machine.objects.get(uid=fingerprint_parse(FINGERPRINT).uid).last_seen_at == start

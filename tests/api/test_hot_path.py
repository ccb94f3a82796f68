"""The heartbeat's cost: the queries each agent call makes, and the writes it does not make.

Every agent in the field calls ``validate`` on an interval, so what one call sends to the database
is what the portal costs (bench/ measures the time; this pins the work). Queries are counted
through the real HTTP stack and database (PostgreSQL in CI).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from environments.fingerprint import fingerprint_parse
from environments.models import Machine
from licenses.models import ActivationEvent, LicenseKey
from tests.conftest import Agent


def at(monkeypatch, moment: datetime) -> None:
    monkeypatch.setattr("licenses.agent_api.flow.now_utc", lambda: moment)


def statement_kind(sql: str) -> str:
    """SELECT, INSERT, UPDATE...: of a prepared statement's EXECUTE too, by the statement's name."""
    first = sql.lstrip().split(None, 1)[0].upper()
    if first in ("EXECUTE", "PREPARE"):
        if "agent_history_insert" in sql:
            return "INSERT"
        return "UPDATE" if "agent_seen_update" in sql else "SELECT"
    return first


def writes(captured) -> list[str]:
    return [query["sql"] for query in captured if statement_kind(query["sql"]) in ("INSERT", "UPDATE", "DELETE")]


@pytest.fixture
def keys(machine_key, server_key, trial_key, temporary_key):
    return {"machine": machine_key, "server": server_key, "trial": trial_key, "temporary": temporary_key}


@pytest.mark.parametrize("kind", ["machine", "server", "trial"])
def test_validate_of_a_bound_key_is_one_read(keys, kind):
    agent = Agent()
    assert agent.activate(keys[kind]["key"])["code"] == "VALID"
    with CaptureQueriesContext(connection) as captured:
        verdict = agent.validate(keys[kind]["key"])
    assert verdict["code"] == "VALID"
    assert len(captured) == 1, [query["sql"] for query in captured]
    assert writes(captured) == []


def test_validate_of_a_temporary_key_reads_the_key_then_the_machine(keys):
    agent = Agent()
    assert agent.activate(keys["machine"]["key"])["code"] == "VALID"  # a registered machine of Acme
    with CaptureQueriesContext(connection) as captured:
        verdict = agent.validate(keys["temporary"]["key"])
    assert verdict["code"] == "VALID"
    assert len(captured) == 2 and writes(captured) == []
    stranger = Agent(fingerprint={**agent.fingerprint, "mac": "00:de:ad:be:ef:00", "hostname": "stranger"})
    with CaptureQueriesContext(connection) as captured:
        assert stranger.validate(keys["temporary"]["key"])["code"] == "MACHINE_NOT_REGISTERED"
    # The refusal is recorded in the key's history, coalesced (tests/api/test_refusals.py): without
    # Redis, adding to an earlier row's count (none here) and writing the row; the verdict read two.
    written = writes(captured)
    assert written and all("licenses_activationevent" in sql or "agent_history_insert" in sql for sql in written)
    assert len(captured) == 2 + len(written)


def test_a_machine_seen_again_within_a_minute_is_not_written_and_after_a_minute_once(
    registered_agent, machine_key, monkeypatch
):
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)
    Machine.objects.update(last_seen_at=start)
    for seconds in (1, 30, 59):
        at(monkeypatch, start + timedelta(seconds=seconds))
        with CaptureQueriesContext(connection) as captured:
            assert registered_agent.validate(machine_key["key"])["code"] == "VALID"
        assert writes(captured) == []
    assert Machine.objects.get().last_seen_at == start

    later = start + timedelta(seconds=60)
    at(monkeypatch, later)
    with CaptureQueriesContext(connection) as captured:
        assert registered_agent.validate(machine_key["key"])["code"] == "VALID"
    assert len(writes(captured)) == 1 and writes(captured)[0].startswith("UPDATE")
    assert Machine.objects.get().last_seen_at == later  # never more than a minute stale


def test_a_changed_detail_is_written_at_once_with_its_history(registered_agent, machine_key):
    registered_agent.fingerprint["product_version"] = "4.4.9"  # a patch release: the same machine
    assert registered_agent.validate(machine_key["key"])["code"] == "VALID"
    assert Machine.objects.get().product_version == "4.4.9"
    event = ActivationEvent.objects.filter(event="validate").get()
    assert "product_version: 4.4.2 → 4.4.9" in event.detail


def test_a_reactivation_that_changes_nothing_locks_nothing(registered_agent, machine_key, monkeypatch):
    """Like a heartbeat: reads, and a history row at most once a minute per key and machine."""
    start = datetime.now(UTC) + timedelta(minutes=2)
    at(monkeypatch, start)
    events = ActivationEvent.objects.count()
    with CaptureQueriesContext(connection) as captured:
        verdict = registered_agent.activate(machine_key["key"])
    assert verdict["code"] == "VALID" and verdict["activation"]
    kinds = [statement_kind(query["sql"]) for query in captured]
    assert kinds.count("INSERT") == 1 and set(kinds) <= {"SELECT", "INSERT", "UPDATE"}, kinds
    assert not any("FOR UPDATE" in query["sql"] for query in captured)
    assert ActivationEvent.objects.count() == events + 1  # the history still shows it
    claims = jwt.decode(verdict["activation"], options={"verify_signature": False})
    assert claims["machine_uid"] == verdict["machine"]["uid"]

    at(monkeypatch, start + timedelta(seconds=30))  # again within the minute: no history row
    assert registered_agent.activate(machine_key["key"])["code"] == "VALID"
    assert ActivationEvent.objects.count() == events + 1
    at(monkeypatch, start + timedelta(seconds=61))  # a minute later: one more
    assert registered_agent.activate(machine_key["key"])["code"] == "VALID"
    assert ActivationEvent.objects.count() == events + 2


def test_a_reactivation_with_a_new_name_takes_the_locked_path_and_saves_it(registered_agent, machine_key):
    with CaptureQueriesContext(connection) as captured:
        assert registered_agent.activate(machine_key["key"], machine_name="Front office")["code"] == "VALID"
    if connection.features.has_select_for_update:
        assert any("FOR UPDATE" in query["sql"] for query in captured)
    assert any(sql.startswith("UPDATE") for sql in writes(captured))
    assert Machine.objects.get().name == "Front office"


def test_a_key_is_never_deleted_so_its_history_needs_no_lock_on_it(registered_agent, machine_key):
    """History rows carry no foreign-key check (it would lock the key's row on every activation):
    instead nothing may delete a key, neither the ORM (its history protects it) nor raw SQL."""
    from django.db import DatabaseError, transaction
    from django.db.models import ProtectedError

    license_key = LicenseKey.objects.get()
    with pytest.raises(ProtectedError), transaction.atomic():
        license_key.delete()
    if connection.vendor == "postgresql":
        with pytest.raises(DatabaseError, match="never deleted"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("DELETE FROM licenses_licensekey WHERE id = %s", [license_key.pk])
    assert LicenseKey.objects.filter(pk=license_key.pk).exists()
    assert registered_agent.activate(machine_key["key"])["code"] == "VALID"


@pytest.mark.postgres
def test_every_agent_write_waits_for_the_disk(transactional_db, registered_agent, machine_key):
    """No write of the agent API relaxes its commit (``synchronous_commit`` stays on)."""
    with CaptureQueriesContext(connection) as captured:
        assert registered_agent.deactivate(machine_key["key"])["code"] == "DEACTIVATED"
        assert registered_agent.activate(machine_key["key"])["code"] == "VALID"
        assert registered_agent.activate(machine_key["key"])["code"] == "VALID"
    assert not any("synchronous_commit" in query["sql"] for query in captured)
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone() == ("on",)


@pytest.mark.postgres
def test_lookups_are_prepared_once_per_connection_and_survive_a_new_one(
    transactional_db, registered_agent, machine_key, keys
):
    registered_agent.validate(machine_key["key"])
    registered_agent.validate(keys["temporary"]["key"])
    with CaptureQueriesContext(connection) as captured:
        assert registered_agent.validate(machine_key["key"])["code"] == "VALID"
        assert registered_agent.validate(keys["temporary"]["key"])["code"] == "VALID"
    assert [query["sql"].split("(")[0] for query in captured] == [
        "EXECUTE agent_verdict_by_digest",
        "EXECUTE agent_verdict_by_digest",
        "EXECUTE agent_registered_machine",
    ]
    connection.close()  # a new connection knows no prepared statement: the next call prepares again
    with CaptureQueriesContext(connection) as captured:
        assert registered_agent.validate(keys["temporary"]["key"])["code"] == "VALID"
    assert [query["sql"].split(" ")[0] for query in captured] == ["SELECT", "PREPARE", "PREPARE"]
    assert "pg_prepared_statements" in captured[0]["sql"]


def test_the_hot_paths_instances_are_the_ones_the_orm_loads(keys):
    """The verdict's key and relations are built from one row (``Model.from_db``): every field holds
    what the ORM would have loaded, and each instance is a saved row that saves and refreshes."""
    from django.db.models import Model

    from licenses import keyformat
    from licenses.agent_api import flow

    agent = Agent()
    assert agent.activate(keys["machine"]["key"])["code"] == "VALID"
    digest = keyformat.key_digest(keys["machine"]["key"])
    built = flow.agent_lookup(keys["machine"]["key"], fingerprint_parse(agent.fingerprint).uid, None)[0]
    loaded = LicenseKey.objects.select_related("organization", "environment", "machine").get(digest=digest)

    def fields(instance: Model) -> dict:
        return {field.attname: getattr(instance, field.attname) for field in instance._meta.concrete_fields}

    with CaptureQueriesContext(connection) as captured:  # the relations come with the key
        relations = [
            (getattr(built, name), getattr(loaded, name)) for name in ("organization", "environment", "machine")
        ]
    assert captured.captured_queries == []
    for mine, orm in [(built, loaded), *relations]:
        assert type(mine) is type(orm) and fields(mine) == fields(orm)
        assert (mine._state.adding, mine._state.db) == (False, "default")
    assert built.machine.uid == fingerprint_parse(agent.fingerprint).uid
    assert built.organization.name == loaded.organization.name

    built.machine.name = "renamed through a built instance"
    built.machine.save(update_fields=["name"])  # an UPDATE of the row, not an INSERT
    assert Machine.objects.get(pk=loaded.machine.pk).name == "renamed through a built instance"
    built.refresh_from_db()
    assert fields(built) == fields(loaded)
    if connection.vendor == "postgresql":
        row = flow.sql.execute("agent_verdict_by_digest", [digest])
        assert flow.key_from_row(row, digest).pk == built.pk
        assert flow.key_from_row(row, "0" * 64) is None  # another digest

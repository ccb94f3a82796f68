"""Refused agent calls are traceable (issue 16): recorded in the key's history, one row per key,
machine and code in a window (an hour by default), with a count; shown on the key's page."""

from __future__ import annotations

from datetime import timedelta

import pytest

from licenses.models import ActivationEvent, LicenseKey
from licenses.services import license_revoke
from tests.conftest import FINGERPRINT, Agent

RENAMED = {**FINGERPRINT, "hostname": "acme-srv02"}


def refusals(key_id):
    return list(ActivationEvent.objects.filter(license__public_id=key_id, event="refused").order_by("created_at"))


@pytest.fixture(params=["database", "redis"])
def coalescing(request, settings):
    """Coalesced by asking the database (no Redis: the SQLite default), or by Redis."""
    if request.param == "redis":
        request.getfixturevalue("cache_on")
        settings.LICENSE_REFUSAL_COUNT_WRITE_SECONDS = 0.001  # every count written (a minute by default)
    return request.param


def test_a_mismatch_is_recorded_once_per_window_with_a_count(coalescing, registered_agent, machine_key):
    renamed = Agent(fingerprint=RENAMED)
    for _ in range(3):
        assert renamed.validate(machine_key["key"])["code"] == "FINGERPRINT_MISMATCH"
    assert renamed.activate(machine_key["key"])["code"] == "FINGERPRINT_MISMATCH"
    (row,) = refusals(machine_key["id"])
    assert (row.code, row.count) == ("FINGERPRINT_MISMATCH", 4)
    assert row.machine_uid != LicenseKey.objects.get(public_id=machine_key["id"]).machine.uid
    assert "The computer name changed from acme-srv01 to acme-srv02." in row.detail


def test_each_code_and_machine_has_its_own_row(coalescing, registered_agent, machine_key):
    Agent(fingerprint=RENAMED).validate(machine_key["key"])
    Agent(fingerprint={**FINGERPRINT, "mac": "00:aa:bb:cc:dd:ee"}).validate(machine_key["key"])
    key = LicenseKey.objects.get(public_id=machine_key["id"])
    license_revoke(license_key=key, actor=None, reason="leaked")
    Agent(fingerprint=RENAMED).validate(machine_key["key"])
    Agent(fingerprint=RENAMED).deactivate(machine_key["key"])
    rows = refusals(machine_key["id"])
    assert [(row.code, row.count) for row in rows] == [
        ("FINGERPRINT_MISMATCH", 1),
        ("FINGERPRINT_MISMATCH", 1),
        ("REVOKED", 2),
    ]


def test_a_new_window_opens_a_new_row(registered_agent, machine_key, settings, monkeypatch):
    from licenses import services

    settings.LICENSE_REFUSAL_HISTORY_SECONDS = 3600
    start = services.now_utc()
    renamed = Agent(fingerprint=RENAMED)
    renamed.validate(machine_key["key"])
    monkeypatch.setattr(services, "now_utc", lambda: start + timedelta(hours=1, seconds=1))
    renamed.validate(machine_key["key"])
    assert [row.count for row in refusals(machine_key["id"])] == [1, 1]


def test_transfer_limit_and_unregistered_machine_refusals_are_recorded(org, machine_key, temporary_key):
    from organizations.models import Organization

    Organization.objects.filter(uuid=org["id"]).update(transfer_limit=0)
    first = Agent()
    assert first.activate(machine_key["key"])["code"] == "VALID"
    assert first.deactivate(machine_key["key"])["code"] == "DEACTIVATED"
    other = Agent(fingerprint={**FINGERPRINT, "mac": "00:aa:bb:cc:dd:ee", "hostname": "acme-srv09"})
    assert other.activate(machine_key["key"])["code"] == "TRANSFER_LIMIT"
    assert [row.code for row in refusals(machine_key["id"])] == ["TRANSFER_LIMIT"]
    assert other.validate(temporary_key["key"])["code"] == "MACHINE_NOT_REGISTERED"
    assert [row.code for row in refusals(temporary_key["id"])] == ["MACHINE_NOT_REGISTERED"]


def test_with_redis_a_storm_of_refusals_writes_the_count_at_most_once_a_minute(cache_on, registered_agent, machine_key):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    renamed = Agent(fingerprint=RENAMED)
    renamed.validate(machine_key["key"])  # opens the window's row
    renamed.validate(machine_key["key"])  # its count is due: written
    with CaptureQueriesContext(connection) as captured:
        for _ in range(5):
            assert renamed.validate(machine_key["key"])["code"] == "FINGERPRINT_MISMATCH"
    assert not [query for query in captured if query["sql"].lstrip().upper().startswith(("INSERT", "UPDATE"))]
    assert [row.count for row in refusals(machine_key["id"])] == [2]


def test_a_valid_heartbeat_writes_no_history(registered_agent, machine_key):
    before = ActivationEvent.objects.count()
    for _ in range(3):
        assert registered_agent.validate(machine_key["key"])["code"] == "VALID"
    assert ActivationEvent.objects.count() == before


def test_the_key_page_shows_refusals_with_their_count(world):
    renamed = Agent(fingerprint=RENAMED)
    for _ in range(2):
        assert renamed.validate(world.machine_text)["code"] == "FINGERPRINT_MISMATCH"
    html = world.client("org_admin").get(f"/keys/{world.machine_key.public_id}/").content.decode()
    assert "Refused" in html and "FINGERPRINT_MISMATCH" in html
    assert 'data-testid="refusal-count">2 calls' in html
    assert "The computer name changed from acme-srv01 to acme-srv02." in html

"""Time: expiry is judged by the server's clock only, at the edges too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest
from django.test import override_settings

from licenses.models import LicenseKey
from tests.conftest import Agent, command


def at(monkeypatch, moment: datetime) -> None:
    monkeypatch.setattr("licenses.services.now_utc", lambda: moment)


def test_a_key_is_expired_exactly_at_its_expiry(registered_agent, temporary_key, monkeypatch):
    expires = LicenseKey.objects.get(public_id=temporary_key["id"]).expires_at
    at(monkeypatch, expires - timedelta(microseconds=1))
    assert registered_agent.validate(temporary_key["key"])["code"] == "VALID"
    at(monkeypatch, expires)
    assert registered_agent.validate(temporary_key["key"])["code"] == "EXPIRED"


def test_a_server_key_for_a_leap_day_ends_at_the_first_of_march(org, monkeypatch):
    at(monkeypatch, datetime(2028, 2, 28, 12, 0, tzinfo=UTC))
    monkeypatch.setattr("django.utils.timezone.now", lambda: datetime(2028, 2, 28, 12, 0, tzinfo=UTC))
    key = command("issue_key", org["id"], "--kind", "server", "--machine-name", "acme-srv01", "--expires", "2028-02-29")
    assert key["expires_at"] == "2028-03-01T00:00:00Z"
    agent = Agent()
    assert agent.activate(key["key"])["code"] == "VALID"
    at(monkeypatch, datetime(2028, 2, 29, 23, 59, 59, tzinfo=UTC))
    assert agent.validate(key["key"])["code"] == "VALID"
    at(monkeypatch, datetime(2028, 3, 1, 0, 0, 0, tzinfo=UTC))
    assert agent.validate(key["key"])["code"] == "EXPIRED"


@pytest.mark.parametrize("zone", ["Pacific/Honolulu", "Asia/Tokyo", "UTC"])
def test_a_server_key_date_means_the_same_day_in_every_admin_time_zone(org, zone):
    with override_settings(TIME_ZONE=zone):
        key = command("issue_key", org["id"], "--kind", "server", "--machine-name", "h", "--expires", "2030-01-31")
    assert key["expires_at"] == "2030-02-01T00:00:00Z"


def test_the_clients_idea_of_time_is_ignored(registered_agent, temporary_key, monkeypatch):
    expires = LicenseKey.objects.get(public_id=temporary_key["id"]).expires_at
    at(monkeypatch, expires + timedelta(seconds=1))
    verdict = registered_agent.validate(temporary_key["key"], time="2000-01-01T00:00:00Z", now=0)
    assert verdict["code"] == "EXPIRED"
    assert verdict["time"] == (expires + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_token_not_before_and_expiry(registered_agent, temporary_key, monkeypatch):
    moment = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=5)
    at(monkeypatch, moment)
    token = registered_agent.activate(temporary_key["key"])["activation"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["nbf"] == claims["iat"] == int(moment.timestamp())
    expires = LicenseKey.objects.get(public_id=temporary_key["id"]).expires_at
    assert claims["exp"] == int(expires.timestamp())
    with pytest.raises(jwt.ImmatureSignatureError):  # a stock library refuses it before nbf
        jwt.decode(token, options={"verify_signature": False, "verify_nbf": True}, leeway=0)

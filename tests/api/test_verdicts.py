"""Every verdict code of AGENT_PROTOCOL.md, for every kind of key, through HTTP."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from licenses import keyformat, signing
from licenses.models import LicenseKey
from organizations.models import Organization
from tests.conftest import OTHER_MACHINE, Agent, command

KINDS = ["machine", "server", "trial", "temporary"]
BINDABLE = ["machine", "server", "trial"]


@pytest.fixture
def keys(machine_key, server_key, trial_key, temporary_key):
    return {"machine": machine_key, "server": server_key, "trial": trial_key, "temporary": temporary_key}


@pytest.fixture
def registered(agent, machine_key):
    """The agent's machine, registered to Acme by activating the machine key."""
    assert agent.activate(machine_key["key"])["code"] == "VALID"
    return agent


def later(monkeypatch, delta: timedelta) -> None:
    """Move the server's clock (the only clock that judges expiry) forward."""
    moved = timezone.now() + delta
    monkeypatch.setattr("licenses.services.now_utc", lambda: moved)


def end_subscription(org: dict) -> None:
    now = timezone.now()
    Organization.objects.filter(uuid=org["id"]).update(
        subscription_starts_at=now - timedelta(days=365), subscription_ends_at=now - timedelta(seconds=1)
    )


def use(agent, kind, key):
    """Activate a bindable key, validate a temporary one: the call an agent makes first."""
    return agent.activate(key) if kind != "temporary" else agent.validate(key)


# NOT_FOUND ----------------------------------------------------------------------------------------


def test_unknown_and_mistyped_keys_are_not_found(agent, machine_key):
    key = machine_key["key"]
    typo = key[:20] + ("A" if key[20] != "A" else "B") + key[21:]
    unknown = keyformat.key_build(
        kind="machine",
        organization_id=Organization.objects.get().uuid,
        issued_at=timezone.now(),
        private_key=signing.keyring().active.private_key,
    )
    for text in ("not a key", typo, unknown, key.lower()):
        verdict = agent.activate(text)
        assert verdict["code"] == "NOT_FOUND" and verdict["valid"] is False
        assert "license" not in verdict


def test_surrounding_white_space_is_ignored(agent, machine_key):
    assert agent.activate(f"  {machine_key['key']}\n")["code"] == "VALID"


# REVOKED, SUSPENDED --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_revoked_key_of_every_kind(registered, keys, kind):
    command("revoke_key", keys[kind]["id"], "--reason", "leaked")
    for call in (registered.activate, registered.validate, registered.deactivate):
        verdict = call(keys[kind]["key"])
        assert verdict["code"] == "REVOKED"
        assert verdict["license"]["id"] == keys[kind]["id"]


@pytest.mark.parametrize("kind", KINDS)
def test_suspended_organization_suspends_every_kind(registered, keys, kind, org):
    command("set_organization_status", org["slug"], "suspended")
    assert registered.validate(keys[kind]["key"])["code"] == "SUSPENDED"
    command("set_organization_status", org["slug"], "active")
    assert use(registered, kind, keys[kind]["key"])["code"] == "VALID"


@pytest.mark.parametrize("kind", KINDS)
def test_inactive_key_is_suspended(registered, keys, kind):
    LicenseKey.objects.filter(public_id=keys[kind]["id"]).update(status="inactive")
    assert registered.activate(keys[kind]["key"])["code"] == "SUSPENDED"


def test_revoked_wins_over_suspended(registered, keys, org):
    command("set_organization_status", org["slug"], "suspended")
    command("revoke_key", keys["machine"]["key"])
    assert registered.validate(keys["machine"]["key"])["code"] == "REVOKED"


# EXPIRED, SUBSCRIPTION_EXPIRED ----------------------------------------------------------------------


def test_temporary_key_expires_after_its_ttl(registered, temporary_key, monkeypatch):
    verdict = registered.validate(temporary_key["key"])
    assert verdict["code"] == "VALID"
    assert verdict["license"]["capabilities"] == {"save_data_configuration": False, "paid_features": True}
    assert verdict["license"]["expires_at"] == temporary_key["expires_at"]
    later(monkeypatch, timedelta(hours=2, seconds=1))
    assert registered.validate(temporary_key["key"])["code"] == "EXPIRED"


def test_trial_key_expires_after_30_days_with_paid_capabilities(agent, trial_key, monkeypatch):
    verdict = agent.activate(trial_key["key"])
    assert verdict["code"] == "VALID"
    assert verdict["license"]["edition"] == "trial"
    assert verdict["license"]["capabilities"] == {"save_data_configuration": True, "paid_features": True}
    later(monkeypatch, timedelta(days=29, hours=23))
    assert agent.validate(trial_key["key"])["code"] == "VALID"
    later(monkeypatch, timedelta(days=30, seconds=1))
    assert agent.validate(trial_key["key"])["code"] == "EXPIRED"


def test_server_key_is_valid_through_its_date(org, monkeypatch):
    today = timezone.now().date()
    key = command(
        "issue_key", org["id"], "--kind", "server", "--machine-name", "acme-srv01", "--expires", today.isoformat()
    )
    assert key["expires_at"] == (today + timedelta(days=1)).strftime("%Y-%m-%dT00:00:00Z")
    agent = Agent()
    assert agent.activate(key["key"])["code"] == "VALID"
    later(monkeypatch, timedelta(days=1))
    assert agent.validate(key["key"])["code"] == "EXPIRED"


@pytest.mark.parametrize("kind", ["machine", "temporary"])
def test_ended_subscription_stops_machine_and_temporary_keys(registered, keys, kind, org):
    end_subscription(org)
    assert registered.validate(keys[kind]["key"])["code"] == "SUBSCRIPTION_EXPIRED"


@pytest.mark.parametrize("kind", ["server", "trial"])
def test_ended_subscription_does_not_stop_server_and_trial_keys(agent, keys, kind, org):
    end_subscription(org)
    assert agent.activate(keys[kind]["key"])["code"] == "VALID"


def test_subscription_of_zero_days_ends_now(agent):
    org = command("create_organization", "Lapsed", "--subscription-days", "0")
    command("create_environment", org["slug"], "Production")
    key = command("issue_key", org["slug"], "--kind", "machine", "--environment", "Production")
    assert agent.activate(key["key"])["code"] == "SUBSCRIPTION_EXPIRED"
    trial = command("issue_key", org["slug"], "--kind", "trial")
    assert agent.activate(trial["key"])["code"] == "VALID"  # the stopgap bridges the lapse


def test_machine_key_expires_at_is_the_subscription_end(agent, machine_key, org):
    assert agent.activate(machine_key["key"])["license"]["expires_at"] == org["subscription_ends_at"]


# ENVIRONMENT_DISABLED --------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["disabled", "deleted"])
def test_disabled_or_deleted_environment(agent, machine_key, org, status):
    assert agent.activate(machine_key["key"])["code"] == "VALID"
    command("set_environment_status", org["slug"], "Production", status)
    assert agent.validate(machine_key["key"])["code"] == "ENVIRONMENT_DISABLED"
    command("set_environment_status", org["slug"], "Production", "enabled")
    if status == "deleted":  # deleting released the binding: the agent's next activation binds again
        assert agent.validate(machine_key["key"])["code"] == "NOT_ACTIVATED"
        assert agent.activate(machine_key["key"])["code"] == "VALID"
    assert agent.validate(machine_key["key"])["code"] == "VALID"


# ORGANIZATION_MISMATCH, MACHINE_NOT_REGISTERED -------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_machine_of_another_organization(keys, other_org, kind):
    globex_key = command("issue_key", other_org["id"], "--kind", "machine", "--environment", "Production")
    agent = Agent()
    assert agent.activate(globex_key["key"])["code"] == "VALID"
    verdict = agent.activate(keys[kind]["key"])
    assert verdict["code"] == "ORGANIZATION_MISMATCH"
    assert verdict["license"]["organization"]["id"] != other_org["id"]


def test_temporary_key_needs_a_registered_machine(agent, temporary_key, machine_key):
    assert agent.validate(temporary_key["key"])["code"] == "MACHINE_NOT_REGISTERED"
    assert agent.activate(temporary_key["key"])["code"] == "MACHINE_NOT_REGISTERED"
    assert agent.activate(machine_key["key"])["code"] == "VALID"
    verdict = agent.validate(temporary_key["key"])
    assert verdict["code"] == "VALID" and verdict["machine"]["uid"]
    activated = agent.activate(temporary_key["key"])
    assert activated["code"] == "VALID" and activated["activation"]
    command("revoke_key", machine_key["id"])  # the machine holds no key of Acme any more
    assert agent.validate(temporary_key["key"])["code"] == "MACHINE_NOT_REGISTERED"


def test_temporary_key_needs_no_activation_and_many_may_be_active(registered, org):
    keys = [command("issue_key", org["id"], "--kind", "temporary", "--ttl", ttl) for ttl in ("30m", "4h", "7d")]
    for key in keys:
        assert registered.validate(key["key"])["code"] == "VALID"


def test_temporary_key_deactivate_changes_nothing(registered, temporary_key):
    assert registered.deactivate(temporary_key["key"])["code"] == "DEACTIVATED"
    assert registered.validate(temporary_key["key"])["code"] == "VALID"


# TRANSFER_LIMIT ---------------------------------------------------------------------------------------


def test_transfer_limit_counts_moves_after_deactivate(machine_key):
    first, second = Agent(), Agent(fingerprint=OTHER_MACHINE)
    key = machine_key["key"]
    assert first.activate(key)["code"] == "VALID"  # the first binding is no move
    for mover, other in ((second, first), (first, second), (second, first)):
        assert other.deactivate(key)["code"] == "DEACTIVATED"
        assert mover.activate(key)["code"] == "VALID"  # moves 1, 2, 3
    assert second.deactivate(key)["code"] == "DEACTIVATED"
    verdict = first.activate(key)
    assert verdict["code"] == "TRANSFER_LIMIT"
    assert second.activate(key)["code"] == "VALID"  # a return to the last machine is no move


def test_detach_is_not_a_move(machine_key):
    first, second = Agent(), Agent(fingerprint=OTHER_MACHINE)
    key = machine_key["key"]
    assert first.activate(key)["code"] == "VALID"
    for _ in range(5):
        holder = (
            first if LicenseKey.objects.get(public_id=machine_key["id"]).machine.hostname == "acme-srv01" else second
        )
        other = second if holder is first else first
        command("detach_machine", holder.verdict("validate", key)["machine"]["uid"])
        assert other.activate(key)["code"] == "VALID"


def test_transfer_limit_follows_the_organization_policy(machine_key, org):
    Organization.objects.filter(uuid=org["id"]).update(transfer_limit=0)
    first, second = Agent(), Agent(fingerprint=OTHER_MACHINE)
    assert first.activate(machine_key["key"])["code"] == "VALID"
    first.deactivate(machine_key["key"])
    assert second.activate(machine_key["key"])["code"] == "TRANSFER_LIMIT"


def test_moves_older_than_30_days_do_not_count(machine_key, org, monkeypatch):
    Organization.objects.filter(uuid=org["id"]).update(transfer_limit=1)
    first, second = Agent(), Agent(fingerprint=OTHER_MACHINE)
    key = machine_key["key"]
    first.activate(key)
    first.deactivate(key)
    assert second.activate(key)["code"] == "VALID"
    second.deactivate(key)
    assert first.activate(key)["code"] == "TRANSFER_LIMIT"
    later(monkeypatch, timedelta(days=30, seconds=1))
    assert first.activate(key)["code"] == "VALID"


# FINGERPRINT_MISMATCH, NOT_ACTIVATED ----------------------------------------------------------------


@pytest.mark.parametrize("kind", BINDABLE)
def test_key_bound_to_another_machine(keys, kind):
    first = Agent()
    assert first.activate(keys[kind]["key"])["code"] == "VALID"
    clone = Agent(fingerprint={**first.fingerprint, "cpu_id": "0000000000000001"})
    for call in (clone.activate, clone.validate, clone.deactivate):
        verdict = call(keys[kind]["key"])
        assert verdict["code"] == "FINGERPRINT_MISMATCH"
        assert verdict["changed"] == ["cpu_id"]
    assert first.validate(keys[kind]["key"])["code"] == "VALID"  # the first binding holds


def test_server_key_refuses_another_machine_name(server_key):
    agent = Agent(fingerprint={**OTHER_MACHINE, "hostname": "reporting-02"})
    verdict = agent.activate(server_key["key"])
    assert verdict["code"] == "FINGERPRINT_MISMATCH" and verdict["changed"] == ["hostname"]


def test_server_key_machine_name_is_case_insensitive(server_key):
    assert Agent(fingerprint={**OTHER_MACHINE, "hostname": "Acme-Srv01"}).activate(server_key["key"])["code"] == "VALID"


@pytest.mark.parametrize("kind", BINDABLE)
def test_validate_before_activate(agent, keys, kind):
    verdict = agent.validate(keys[kind]["key"])
    assert verdict["code"] == "NOT_ACTIVATED"
    assert verdict["license"]["kind"] == kind


# VALID, DEACTIVATED --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_valid_verdict_shape(registered, keys, kind, org):
    verdict = use(registered, kind, keys[kind]["key"])
    assert verdict["valid"] is True and verdict["code"] == "VALID"
    license = verdict["license"]
    assert license["id"] == keys[kind]["id"] and license["kind"] == kind
    assert license["organization"] == {"id": org["id"], "name": "Acme Corp"}
    assert license["environment"] == ("Production" if kind == "machine" else None)
    assert license["expires_at"] == keys[kind]["expires_at"]
    assert verdict["machine"]["uid"] == "0f1b6ff645458c48cfc2c6058f9240062dacdb68b1f948daff82299c4e8c908a"
    assert verdict["machine"]["activated_at"].endswith("Z")
    assert verdict["time"].endswith("Z")
    assert "changed" not in verdict
    ends = keys[kind]["expires_at"]  # 2027-11-30T08:00:00Z: the detail says it to the minute, in UTC
    assert verdict["detail"] == f"License valid until {ends[:10]} {ends[11:16]} UTC."


@pytest.mark.parametrize("kind", BINDABLE)
def test_reactivation_on_the_same_machine_gives_a_new_token(agent, keys, kind):
    first = agent.activate(keys[kind]["key"])
    second = agent.activate(keys[kind]["key"])
    assert first["code"] == second["code"] == "VALID"
    assert first["activation"] and second["activation"]


@pytest.mark.parametrize("kind", BINDABLE)
def test_deactivate_releases_the_key(keys, kind):
    first, second = Agent(), Agent(fingerprint={**OTHER_MACHINE, "hostname": "acme-srv01"})
    first.activate(keys[kind]["key"])
    verdict = first.deactivate(keys[kind]["key"])
    assert verdict == {**verdict, "valid": False, "code": "DEACTIVATED"}
    assert first.validate(keys[kind]["key"])["code"] == "NOT_ACTIVATED"
    assert second.activate(keys[kind]["key"])["code"] == "VALID"


def test_deactivate_of_an_unbound_key_answers_deactivated(agent, machine_key):
    assert agent.deactivate(machine_key["key"])["code"] == "DEACTIVATED"


def test_deactivate_keeps_the_machine_in_its_organization(agent, machine_key, other_org):
    agent.activate(machine_key["key"])
    agent.deactivate(machine_key["key"])
    globex_key = command("issue_key", other_org["id"], "--kind", "machine", "--environment", "Production")
    assert agent.activate(globex_key["key"])["code"] == "ORGANIZATION_MISMATCH"
    command("detach_machine", agent.activate(machine_key["key"])["machine"]["uid"])
    assert agent.activate(globex_key["key"])["code"] == "VALID"

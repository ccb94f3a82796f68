"""The re-bind rule (pure): in-place upgrades under every policy, one hardware change under the
tolerant policy, and what changed, said for a person."""

from __future__ import annotations

import pytest

from environments.fingerprint import describe_changes, fingerprint_parse, fingerprint_rebind

BOUND = {"mac": "00:1a:2b:3c:4d:5e", "cpu_id": "BFEBFBFF000906EA", "hostname": "acme-srv01", "product_version": "4.4"}


def presented(**changes) -> dict:
    return {**BOUND, **changes}


@pytest.mark.parametrize("policy", ["strict", "tolerant"])
def test_an_in_place_upgrade_rebinds_under_every_policy(policy):
    rebind = fingerprint_rebind(BOUND, presented(product_version="4.5"), policy=policy)
    assert (rebind.allowed, rebind.reason) == (True, "upgrade")
    assert rebind.changes == {"product_version": ("4.4", "4.5")}
    assert rebind.describe() == "The product version changed from 4.4 to 4.5."


def test_nothing_changed_is_the_same_machine():
    assert fingerprint_rebind(BOUND, presented(), policy="strict").reason == "same"


@pytest.mark.parametrize("component", ["mac", "cpu_id", "hostname"])
def test_strict_refuses_any_hardware_change_and_tolerant_allows_one(component):
    changed = presented(**{component: "other"})
    strict = fingerprint_rebind(BOUND, changed, policy="strict")
    assert (strict.allowed, list(strict.changes)) == (False, [component])
    tolerant = fingerprint_rebind(BOUND, changed, policy="tolerant")
    assert (tolerant.allowed, tolerant.reason) == (True, "tolerated")


def test_tolerant_refuses_two_hardware_changes():
    rebind = fingerprint_rebind(BOUND, presented(mac="00:aa:bb:cc:dd:ee", hostname="acme-srv02"), policy="tolerant")
    assert not rebind.allowed and set(rebind.changes) == {"mac", "hostname"}


def test_a_machine_known_only_by_its_uid_never_rebinds():
    assert not fingerprint_rebind({}, presented(), policy="tolerant").allowed


def test_changes_are_said_for_a_person():
    assert describe_changes({"hostname": ("acme-srv01", "acme-srv02")}) == (
        "The computer name changed from acme-srv01 to acme-srv02."
    )
    assert describe_changes({"mac": ("00:1a", "00:aa"), "cpu_id": ("A", "B")}) == (
        "The network card's MAC address changed from 00:1a to 00:aa. The processor id changed from A to B."
    )


def test_machine_rebind_for_reads_the_bound_machine():
    from django.utils import timezone

    from environments.models import Machine

    now = timezone.now()
    machine = Machine(uid="a" * 64, **BOUND, first_seen_at=now, last_seen_at=now)
    machine.product_version = "4.4.2"
    upgraded = fingerprint_parse({**BOUND, "product_version": "4.5.0"})
    assert machine.rebind_for(upgraded, policy="strict").reason == "upgrade"

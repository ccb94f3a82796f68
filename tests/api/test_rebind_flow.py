"""Re-activation that needs no vendor admin (issue 16; AGENT_PROTOCOL.md "Additions in 1.1"): an
in-place upgrade re-binds the key on ``activate`` under every fingerprint policy, one hardware change
does under the tolerant policy; not a move, the old machine superseded, history and audit say so."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from environments.models import Machine
from licenses.models import ActivationEvent, LicenseKey
from organizations.models import Organization
from tests.conftest import FINGERPRINT, Agent, command

UPGRADED = {**FINGERPRINT, "product_version": "4.5.0"}


def tolerant(org) -> None:
    Organization.objects.filter(uuid=org["id"]).update(fingerprint_policy="tolerant")


@pytest.mark.parametrize("policy", ["strict", "tolerant"])
def test_an_in_place_upgrade_rebinds_on_activate(registered_agent, machine_key, org, policy):
    Organization.objects.filter(uuid=org["id"]).update(fingerprint_policy=policy)
    old = Machine.objects.get(uid=LicenseKey.objects.get(public_id=machine_key["id"]).machine.uid)
    upgraded = Agent(fingerprint=UPGRADED)

    # The heartbeat before the upgrade's activation still refuses, naming what changed.
    refused = upgraded.validate(machine_key["key"])
    assert (refused["code"], refused["changed"]) == ("FINGERPRINT_MISMATCH", ["product_version"])
    assert "The product version changed from 4.4 to 4.5." in refused["detail"]

    verdict = upgraded.activate(machine_key["key"])
    assert verdict["code"] == "VALID" and verdict["activation"]
    key = LicenseKey.objects.select_related("machine").get(public_id=machine_key["id"])
    assert key.machine.uid == verdict["machine"]["uid"] != old.uid
    assert key.machine.product_version == "4.5.0" and key.last_machine_uid == key.machine.uid
    old.refresh_from_db()
    assert old.superseded_by_id == key.machine_id and old.organization_id == key.organization_id
    row = ActivationEvent.objects.get(license=key, event="rebind")
    assert (row.code, row.detail, row.is_move) == ("VALID", "upgraded 4.4 → 4.5", False)
    assert not ActivationEvent.objects.filter(license=key, is_move=True).exists()
    audit = AuditEvent.objects.get(action="license.rebind")
    assert (audit.before["machine"], audit.after["machine"]) == (old.uid, key.machine.uid)
    assert audit.after["reason"] == "upgrade" and audit.after["superseded"] == old.uid

    assert upgraded.validate(machine_key["key"])["code"] == "VALID"
    assert Agent().validate(machine_key["key"])["code"] == "FINGERPRINT_MISMATCH"  # the old install


def test_upgrades_do_not_count_against_the_transfer_limit(registered_agent, machine_key, org):
    Organization.objects.filter(uuid=org["id"]).update(transfer_limit=1)
    for version in ("4.5.0", "4.6.1", "4.7.0", "5.0.0"):
        assert (
            Agent(fingerprint={**FINGERPRINT, "product_version": version}).activate(machine_key["key"])["code"]
            == "VALID"
        ), version
    assert ActivationEvent.objects.filter(event="rebind").count() == 4
    listed = Machine.objects.filter(organization__uuid=org["id"], superseded_by__isnull=True)
    assert [machine.product_version for machine in listed] == ["5.0.0"]  # no stale rows in the Machines tab


def test_strict_refuses_a_renamed_computer_and_tolerant_rebinds_it(registered_agent, machine_key, org):
    renamed = Agent(fingerprint={**FINGERPRINT, "hostname": "acme-srv02"})
    refused = renamed.activate(machine_key["key"])
    assert (refused["code"], refused["changed"]) == ("FINGERPRINT_MISMATCH", ["hostname"])
    assert "The computer name changed from acme-srv01 to acme-srv02." in refused["detail"]

    tolerant(org)
    verdict = renamed.activate(machine_key["key"])
    assert verdict["code"] == "VALID"
    row = ActivationEvent.objects.get(event="rebind")
    assert row.detail == (
        "re-bound under the tolerant fingerprint policy: The computer name changed from acme-srv01 to acme-srv02."
    )
    assert AuditEvent.objects.get(action="license.rebind").after["reason"] == "tolerated"


def test_tolerant_refuses_two_hardware_changes(registered_agent, machine_key, org):
    tolerant(org)
    moved = Agent(fingerprint={**FINGERPRINT, "hostname": "acme-srv02", "mac": "00:aa:bb:cc:dd:ee"})
    verdict = moved.activate(machine_key["key"])
    assert verdict["code"] == "FINGERPRINT_MISMATCH" and set(verdict["changed"]) == {"mac", "hostname"}
    assert not ActivationEvent.objects.filter(event="rebind").exists()


def test_a_server_key_never_rebinds_to_another_computer_name(server_key, org):
    tolerant(org)
    assert Agent().activate(server_key["key"])["code"] == "VALID"
    renamed = Agent(fingerprint={**FINGERPRINT, "hostname": "acme-srv02"})
    assert renamed.activate(server_key["key"])["code"] == "FINGERPRINT_MISMATCH"
    assert Agent(fingerprint=UPGRADED).activate(server_key["key"])["code"] == "VALID"  # an upgrade does


def test_a_machine_of_another_organization_is_no_rebind_target(registered_agent, machine_key, other_org):
    other_key = command("issue_key", other_org["id"], "--kind", "machine", "--environment", "Production")
    upgraded = Agent(fingerprint=UPGRADED)
    assert upgraded.activate(other_key["key"])["code"] == "VALID"  # the upgraded UID is Globex's now
    assert upgraded.activate(machine_key["key"])["code"] == "ORGANIZATION_MISMATCH"
    assert not ActivationEvent.objects.filter(event="rebind").exists()
    assert ActivationEvent.objects.get(license__public_id=machine_key["id"], event="refused").code == (
        "ORGANIZATION_MISMATCH"
    )


def test_an_install_rolled_back_rebinds_to_its_old_machine_which_is_current_again(registered_agent, machine_key):
    old_uid = LicenseKey.objects.get(public_id=machine_key["id"]).machine.uid
    upgraded = Agent(fingerprint=UPGRADED)
    assert upgraded.activate(machine_key["key"])["code"] == "VALID"
    assert registered_agent.activate(machine_key["key"])["code"] == "VALID"  # back to 4.4
    old, new = Machine.objects.get(uid=old_uid), Machine.objects.get(uid=_uid(UPGRADED))
    assert (old.superseded_by_id, new.superseded_by_id) == (None, old.pk)
    assert list(
        ActivationEvent.objects.filter(event="rebind").order_by("created_at").values_list("detail", flat=True)
    ) == [
        "upgraded 4.4 → 4.5",
        "upgraded 4.5 → 4.4",
    ]


def _uid(fingerprint: dict) -> str:
    from environments.fingerprint import fingerprint_parse

    return fingerprint_parse(fingerprint).uid

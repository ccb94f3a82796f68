"""The seed scenarios: what happens to a machine key when the machine under it changes."""

from __future__ import annotations

import pytest

from environments.fingerprint import COMPONENT_LABELS
from tests.conftest import FINGERPRINT, Agent, command

SCENARIOS = {
    "renamed computer": ({"hostname": "acme-srv01-renamed"}, ["hostname"]),
    "new network adapter": ({"mac": "00:1a:2b:3c:4d:ff"}, ["mac"]),
    "install copied to another machine": (
        {"mac": "00:99:88:77:66:55", "cpu_id": "AAAABBBBCCCCDDDD", "hostname": "copy-target"},
        ["mac", "cpu_id", "hostname"],
    ),
}
# A new minor version (an in-place upgrade) re-binds on activate: tests/api/test_rebind_flow.py.


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_changed_machine_needs_a_detach(machine_key, scenario):
    change, changed = SCENARIOS[scenario]
    before, after = Agent(), Agent(fingerprint={**FINGERPRINT, **change})
    activated = before.activate(machine_key["key"])
    assert activated["code"] == "VALID"

    for call in (after.validate, after.activate):
        verdict = call(machine_key["key"])
        assert verdict["code"] == "FINGERPRINT_MISMATCH"
        assert verdict["changed"] == changed
        assert all(COMPONENT_LABELS[name] in verdict["detail"] for name in changed)  # said for a person

    detached = command("detach_machine", activated["machine"]["uid"].upper())
    assert detached == {"uid": activated["machine"]["uid"], "released_keys": [machine_key["id"]]}
    assert after.activate(machine_key["key"])["code"] == "VALID"
    assert after.validate(machine_key["key"])["code"] == "VALID"
    assert before.validate(machine_key["key"])["code"] == "FINGERPRINT_MISMATCH"


def test_a_new_patch_version_is_the_same_machine_and_is_recorded(machine_key):
    from licenses.models import ActivationEvent

    Agent().activate(machine_key["key"])
    verdict = Agent(fingerprint={**FINGERPRINT, "product_version": "4.4.7"}).validate(machine_key["key"])
    assert verdict["code"] == "VALID"
    event = ActivationEvent.objects.get(event="validate")
    assert "4.4.2 → 4.4.7" in event.detail


def test_a_user_of_one_organization_is_refused_on_a_machine_of_another(machine_key, other_org):
    acme_machine = Agent()
    assert acme_machine.activate(machine_key["key"])["code"] == "VALID"
    for kind, extra in (("machine", ["--environment", "Production"]), ("temporary", ["--ttl", "1h"]), ("trial", [])):
        globex_key = command("issue_key", other_org["slug"], "--kind", kind, *extra)
        verdict = (
            acme_machine.validate(globex_key["key"])
            if kind == "temporary"
            else acme_machine.activate(globex_key["key"])
        )
        assert verdict["code"] == "ORGANIZATION_MISMATCH", kind

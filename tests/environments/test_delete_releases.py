"""The APPSeCONNECT workaround, as written: a machine changed under its key; the admin deletes the
environment, enables (re-attaches) it, and the agent's next activation binds the key as the machine
now is. Pages through HTTP, the agent through the API."""

from __future__ import annotations

from audit.models import AuditEvent
from environments.models import Environment, Machine
from licenses.models import ActivationEvent, LicenseKey
from tests.conftest import FINGERPRINT, Agent


def test_the_seeds_six_steps(world):
    admin = world.client("org_admin")
    status_url = f"/organizations/acme/environments/{world.production.uuid}/status/"
    old_uid = world.machine.uid

    # 1. The agent runs on its machine.
    assert Agent().validate(world.machine_text)["code"] == "VALID"
    # 2. The machine changes (a new network card): the key refuses it.
    changed = Agent(fingerprint={**FINGERPRINT, "mac": "00:1a:2b:3c:4d:ff"})
    assert changed.activate(world.machine_text)["code"] == "FINGERPRINT_MISMATCH"
    # 3. The admin deletes the environment: the key's binding and the machine's organization binding go.
    assert admin.post(status_url, {"status": "deleted"}).status_code == 200  # "Delete environment?" first
    assert Environment.objects.get(pk=world.production.pk).deleted_at is None
    assert admin.post(status_url, {"status": "deleted", "confirm": "yes"}).status_code == 302
    key = LicenseKey.objects.get(pk=world.machine_key.pk)
    assert key.machine_id is None and key.released_by == "detach"
    assert Machine.objects.get(uid=old_uid).organization_id is None
    assert ActivationEvent.objects.filter(license=key, event="detach", machine_uid=old_uid).exists()
    assert changed.activate(world.machine_text)["code"] == "ENVIRONMENT_DISABLED"
    # 4. "Enable environment" re-attaches it.
    assert admin.post(status_url, {"status": "enabled"}).status_code == 302
    # 5. The agent's next login (activate) binds the key to the machine as it is now: not a move.
    verdict = changed.activate(world.machine_text)
    assert verdict["code"] == "VALID"
    key.refresh_from_db()
    assert key.machine.uid == verdict["machine"]["uid"] != old_uid
    assert not ActivationEvent.objects.filter(license=key, is_move=True).exists()
    # 6. It keeps working; the old machine does not.
    assert changed.validate(world.machine_text)["code"] == "VALID"
    assert Agent().validate(world.machine_text)["code"] == "FINGERPRINT_MISMATCH"
    deleted = AuditEvent.objects.get(action="environment.delete")
    assert deleted.after["released_keys"] == [str(world.machine_key.public_id)]
    assert AuditEvent.objects.filter(action="machine.detach", object_id=old_uid).exists()


def test_deleting_an_environment_leaves_other_environments_bindings_alone(world):
    from environments.services import environment_create
    from licenses.services import license_issue

    sandbox = environment_create(organization=world.acme, actor=None, name="Sandbox")
    sandbox_key, sandbox_text = license_issue(organization=world.acme, kind="machine", actor=None, environment=sandbox)
    other = Agent(fingerprint={**FINGERPRINT, "hostname": "sandbox-01"})
    assert other.activate(sandbox_text)["code"] == "VALID"
    response = world.client("super_admin").post(
        f"/organizations/acme/environments/{world.production.uuid}/status/", {"status": "deleted", "confirm": "yes"}
    )
    assert response.status_code == 302 and LicenseKey.objects.get(pk=world.machine_key.pk).machine_id is None
    assert LicenseKey.objects.get(pk=sandbox_key.pk).machine_id is not None
    assert other.validate(sandbox_text)["code"] == "VALID"

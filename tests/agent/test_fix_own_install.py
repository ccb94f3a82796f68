"""Customers who fix their own install (issue 16), through the reference agent against the real portal:
an in-place upgrade re-binds on the agent's next heartbeat, and the APPSeCONNECT workaround's six steps
(a changed machine; delete the environment; enable it; the agent's next login binds) work as written.
The administrator's steps are the portal's pages, over HTTP."""

from __future__ import annotations

import pytest
from django.test import Client
from licensing_agent import Agent

from environments.models import Environment, Machine
from licenses.models import ActivationEvent, LicenseKey
from organizations.models import Organization, User
from tests.agent.support import MACHINE, Clock

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def install(live_server, tmp_path):
    """The product's install on a machine: one state file, whatever the machine looks like now."""
    clock = Clock()

    def make(*, state="state.json", product_version="4.4.2", **machine):
        return Agent(
            product_version=product_version,
            portal_url=live_server.url,
            state_path=tmp_path / state,
            clock=clock,
            sleep=lambda seconds: None,
            **(dict(MACHINE) | machine),
        )

    return make


@pytest.fixture
def admin(org) -> Client:
    user = User.objects.create_user(
        "fixes-admin", role=User.Role.ORG_ADMIN, organization=Organization.objects.get(uuid=org["id"])
    )
    client = Client()
    client.force_login(user)
    return client


def _key(machine_key) -> LicenseKey:
    return LicenseKey.objects.select_related("machine").get(public_id=machine_key["id"])


def test_an_upgraded_install_rebinds_on_its_next_heartbeat(install, machine_key):
    status = install().activate(machine_key["key"], machine_name="line 3")
    assert (status.licensed, status.code) == (True, "VALID"), status
    old_uid = _key(machine_key).machine.uid

    upgraded = install(product_version="4.5.0")  # the same install, after the upgrade
    status = upgraded.validate()
    assert (status.licensed, status.code, status.connection) == (True, "VALID", "portal"), status
    assert status.token is not None and status.token.machine_uid == upgraded.machine_uid() != old_uid
    key = _key(machine_key)
    assert key.machine.uid == upgraded.machine_uid()
    assert Machine.objects.get(uid=old_uid).superseded_by_id == key.machine_id
    assert ActivationEvent.objects.get(license=key, event="rebind").detail == "upgraded 4.4 → 4.5"
    assert not ActivationEvent.objects.filter(license=key, is_move=True).exists()
    assert upgraded.validate().code == "VALID"
    assert upgraded.status().licensed  # the new token holds offline too


def test_the_seeds_six_steps_through_the_reference_agent(install, machine_key, admin, org):
    environment = Environment.objects.get(organization__uuid=org["id"], name="Production")
    status_url = f"/organizations/{environment.organization.slug}/environments/{environment.uuid}/status/"

    # 1. The agent runs on its machine.
    original = install()
    assert original.activate(machine_key["key"]).code == "VALID"
    assert original.validate().code == "VALID"
    old_uid = original.machine_uid()
    # 2. The machine changes (a new network card): the key refuses it, saying what changed; the
    #    agent's re-bind attempt is refused too (the strict fingerprint policy), and both are traced.
    changed = install(mac="00:1a:2b:3c:4d:ff")
    status = changed.validate()
    assert (status.licensed, status.code, status.changed) == (False, "FINGERPRINT_MISMATCH", ("mac",))
    assert "network card's MAC address changed" in status.detail
    (refused,) = ActivationEvent.objects.filter(license=_key(machine_key), event="refused")
    assert (refused.code, refused.machine_uid, refused.count) == ("FINGERPRINT_MISMATCH", changed.machine_uid(), 2)
    # 3. The admin deletes the environment (asked first): the key's binding and the machine's go.
    assert admin.post(status_url, {"status": "deleted"}).status_code == 200
    assert admin.post(status_url, {"status": "deleted", "confirm": "yes"}).status_code == 302
    key = _key(machine_key)
    assert key.machine_id is None and key.released_by == "detach"
    assert Machine.objects.get(uid=old_uid).organization_id is None
    assert changed.activate(machine_key["key"]).code == "ENVIRONMENT_DISABLED"
    # 4. "Enable environment" re-attaches it.
    assert admin.post(status_url, {"status": "enabled"}).status_code == 302
    # 5. The agent's next login (activate) binds the key to the machine as it is now: not a move.
    status = changed.activate(machine_key["key"])
    assert (status.licensed, status.code) == (True, "VALID"), status
    assert _key(machine_key).machine.uid == changed.machine_uid() != old_uid
    assert not ActivationEvent.objects.filter(license=key, is_move=True).exists()
    # 6. It keeps working, offline too; the old machine's install does not.
    assert changed.validate().code == "VALID"
    assert changed.status().licensed
    assert install(state="old-machine.json").activate(machine_key["key"]).code == "FINGERPRINT_MISMATCH"

"""The environments and machines pages through Django's test client: the role that may does it, the
roles that may not change nothing."""

from __future__ import annotations

import pytest

from environments.models import Environment, Machine
from licenses.models import ActivationEvent
from tests.conftest import FINGERPRINT, Agent


def test_add_environment_and_duplicate_name_error(world):
    client = world.client("co_admin")
    assert client.post("/organizations/acme/environments/add/", {"name": "Sandbox"}).status_code == 302
    assert Environment.objects.filter(organization=world.acme, name="Sandbox").exists()
    response = client.post("/organizations/acme/environments/add/", {"name": "sandbox"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "already has an environment named sandbox" in html and 'value="sandbox"' in html


def test_outsider_cannot_add_an_environment(world):
    assert world.client("outsider").post("/organizations/acme/environments/add/", {"name": "X"}).status_code == 404
    assert not Environment.objects.filter(name="X").exists()


def test_disable_delete_and_reattach_an_environment(world):
    client = world.client("org_admin")
    url = f"/organizations/acme/environments/{world.production.uuid}/status/"
    client.post(url, {"status": "disabled", "confirm": "yes"})
    assert Agent().validate(world.machine_text)["code"] == "ENVIRONMENT_DISABLED"
    client.post(url, {"status": "enabled"})
    assert Agent().validate(world.machine_text)["code"] == "VALID"
    confirm = client.get(url).content.decode()
    assert "Delete the environment Production?" in confirm and "ENVIRONMENT_DISABLED" in confirm
    client.post(url, {"status": "deleted", "confirm": "yes"})
    world.production.refresh_from_db()
    assert world.production.status == "deleted"
    assert "Re-attach" in client.get("/organizations/acme/").content.decode()
    response = client.post(url, {"status": "enabled"}, follow=True)
    assert "Environment Production re-attached." in response.content.decode()
    world.production.refresh_from_db()
    assert world.production.status == "enabled"


@pytest.mark.parametrize("status", ["disabled", "deleted"])
def test_disabling_or_deleting_an_environment_asks_first(world, status):
    client = world.client("org_admin")
    url = f"/organizations/acme/environments/{world.production.uuid}/status/"
    response = client.post(url, {"status": status})
    assert response.status_code == 200
    html = response.content.decode()
    assert "ENVIRONMENT_DISABLED" in html and 'name="confirm" value="yes"' in html
    world.production.refresh_from_db()
    assert world.production.status == "enabled"
    assert Agent().validate(world.machine_text)["code"] == "VALID"
    table = client.get("/organizations/acme/").content.decode()
    assert table.count("data-confirm=") == 2  # Disable and Delete ask in a <dialog> first


def test_outsider_cannot_change_an_environment(world):
    url = f"/organizations/acme/environments/{world.production.uuid}/status/"
    assert world.client("outsider").post(url, {"status": "deleted"}).status_code == 404
    world.production.refresh_from_db()
    assert world.production.status == "enabled"


def test_machines_list_shows_the_fingerprint(world):
    html = world.client("co_admin").get("/organizations/acme/machines/").content.decode()
    assert "acme-srv01" in html and "00:1a:2b:3c:4d:5e" in html and "4.4.2" in html
    assert world.machine.uid[:14] in html and "UTC" in html


def test_detach_frees_the_key(world):
    client = world.client("co_admin")
    url = f"/organizations/acme/machines/{world.machine.uid}/detach/"
    confirm = client.get(url).content.decode()
    assert "1 key bound to it will be released" in confirm
    assert client.post(url).status_code == 302
    world.machine.refresh_from_db()
    assert world.machine.organization is None
    world.machine_key.refresh_from_db()
    assert world.machine_key.machine is None
    other = Agent(fingerprint={**FINGERPRINT, "hostname": "replacement"})
    assert other.activate(world.machine_text)["code"] == "VALID"
    assert ActivationEvent.objects.filter(license=world.machine_key, event="detach").exists()


def test_outsider_cannot_detach(world):
    url = f"/organizations/acme/machines/{world.machine.uid}/detach/"
    assert world.client("outsider").post(url).status_code == 404
    world.machine.refresh_from_db()
    assert world.machine.organization_id == world.acme.pk


def test_machine_of_another_organization_is_not_found(world):
    agent = Agent(fingerprint={**FINGERPRINT, "hostname": "globex-01"})
    assert agent.activate(world.globex_text)["code"] == "VALID"
    machine = Machine.objects.get(hostname="globex-01")
    assert world.client("org_admin").get(f"/organizations/acme/machines/{machine.uid}/detach/").status_code == 404
    assert world.client("org_admin").post(f"/organizations/globex/machines/{machine.uid}/detach/").status_code == 404


def test_set_primary_machine(world):
    client = world.client("org_admin")
    client.post(f"/organizations/acme/machines/{world.machine.uid}/primary/", {"is_primary": "on"})
    world.machine.refresh_from_db()
    assert world.machine.is_primary
    client.post(f"/organizations/acme/machines/{world.machine.uid}/primary/", {})
    world.machine.refresh_from_db()
    assert not world.machine.is_primary

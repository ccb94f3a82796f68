"""The licenses pages through Django's test client: the role that may does it, the roles that may not
change nothing."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from licenses.models import LicenseKey
from tests.conftest import FINGERPRINT, Agent, shown_key


def test_issue_a_machine_key_shows_it_once_and_it_activates(world):
    response = world.client("org_admin").post(
        "/organizations/acme/licenses/issue/",
        {"environment": str(world.production.uuid), "description": "Agent 2"},
        follow=True,
    )
    assert response.status_code == 200 and response.redirect_chain[0][1] == 302
    assert response["Cache-Control"] == "no-store, private"
    key = shown_key(response)
    assert key.startswith("LP1M-")
    verdict = Agent(fingerprint={**FINGERPRINT, "hostname": "acme-srv02"}).activate(key)
    assert verdict["code"] == "VALID" and verdict["license"]["environment"] == "Production"
    listing = world.client("org_admin").get("/organizations/acme/licenses/").content.decode()
    assert "Agent 2" in listing and key not in listing


def test_issue_needs_an_environment_of_this_organization(world):
    response = world.client("org_admin").post(
        "/organizations/acme/licenses/issue/", {"environment": str(world.globex_production.uuid)}
    )
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()


def test_outsider_cannot_issue(world):
    before = LicenseKey.objects.count()
    response = world.client("outsider").post(
        "/organizations/acme/licenses/issue/", {"environment": str(world.production.uuid)}
    )
    assert response.status_code == 404 and LicenseKey.objects.count() == before


def test_revoke_with_a_reason(world):
    client = world.client("org_admin")
    url = f"/keys/{world.machine_key.public_id}/revoke/"
    confirm = client.get(url).content.decode()
    assert "Revoking is final" in confirm and "REVOKED" in confirm
    response = client.post(url, {"reason": ""})
    assert "This field is required." in response.content.decode()
    assert client.post(url, {"reason": "Laptop stolen"}).status_code == 302
    world.machine_key.refresh_from_db()
    assert world.machine_key.status == "revoked" and world.machine_key.revocation_reason == "Laptop stolen"
    assert Agent().validate(world.machine_text)["code"] == "REVOKED"
    history = client.get(f"/keys/{world.machine_key.public_id}/").content.decode()
    assert "Revoked" in history and "Laptop stolen" in history and "Activated" in history


@pytest.mark.parametrize("role", ["outsider", "partner"])
def test_others_cannot_revoke(world, role):
    assert world.client(role).post(f"/keys/{world.machine_key.public_id}/revoke/", {"reason": "x"}).status_code == 404
    world.machine_key.refresh_from_db()
    assert world.machine_key.status == "active"


def test_show_key_is_audited(world):
    response = world.client("co_admin").post(f"/keys/{world.server_key.public_id}/reveal/")
    assert shown_key(response) == world.server_text
    assert response["Cache-Control"] == "no-store, private"
    event = AuditEvent.objects.get(action="license.reveal")
    assert event.actor_label == "acme-coadmin" and event.organization_id == world.acme.pk
    assert world.client("co_admin").get(f"/keys/{world.server_key.public_id}/reveal/").status_code == 405


def test_partner_shows_their_own_temporary_key_only(world):
    client = world.client("partner")
    assert shown_key(client.post(f"/keys/{world.temporary_key.public_id}/reveal/")) == world.temporary_text
    assert client.post(f"/keys/{world.machine_key.public_id}/reveal/").status_code == 404
    assert AuditEvent.objects.filter(action="license.reveal").count() == 1

"""The per-organization fingerprint policy (set by super-admins, audited) and what FINGERPRINT_MISMATCH
tells a person."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from environments.models import Machine
from organizations.models import Organization
from tests.conftest import FINGERPRINT, Agent


def edit_data(world, **changes) -> dict:
    acme = world.acme
    return {
        "name": acme.name,
        "slug": acme.slug,
        "edition": acme.edition,
        "subscription_starts_at": acme.subscription_starts_at.strftime("%Y-%m-%dT%H:%M"),
        "subscription_ends_at": acme.subscription_ends_at.strftime("%Y-%m-%dT%H:%M"),
        "transfer_limit": acme.transfer_limit,
        **changes,
    }


def test_the_default_policy_is_strict(world):
    assert world.acme.fingerprint_policy == "strict"
    assert "fingerprint policy: <span" in world.client("org_admin").get("/organizations/acme/").content.decode()


def test_a_super_admin_sets_the_policy_on_the_organization_page_and_it_is_audited(world):
    client = world.client("super_admin")
    assert 'name="fingerprint_policy"' in client.get("/organizations/acme/edit/").content.decode()
    response = client.post("/organizations/acme/edit/", edit_data(world, fingerprint_policy="tolerant"))
    assert response.status_code == 302
    world.acme.refresh_from_db()
    assert world.acme.fingerprint_policy == "tolerant"
    event = AuditEvent.objects.filter(action="organization.update").latest("id")
    assert (event.before["fingerprint_policy"], event.after["fingerprint_policy"]) == ("strict", "tolerant")


def test_an_edit_without_the_field_keeps_the_policy(world):
    Organization.objects.filter(pk=world.acme.pk).update(fingerprint_policy="tolerant")
    world.client("super_admin").post("/organizations/acme/edit/", edit_data(world, name="Acme Inc"))
    world.acme.refresh_from_db()
    assert (world.acme.name, world.acme.fingerprint_policy) == ("Acme Inc", "tolerant")


def test_a_bad_policy_is_refused(world):
    response = world.client("super_admin").post("/organizations/acme/edit/", edit_data(world, fingerprint_policy="x"))
    assert response.status_code == 200 and "fingerprint_policy" in response.content.decode()
    world.acme.refresh_from_db()
    assert world.acme.fingerprint_policy == "strict"


@pytest.mark.parametrize(("role", "status"), [("org_admin", 403), ("co_admin", 403), ("outsider", 404)])
def test_only_super_admins_set_the_policy(world, role, status):
    assert (
        world.client(role)
        .post("/organizations/acme/edit/", edit_data(world, fingerprint_policy="tolerant"))
        .status_code
        == status
    )
    world.acme.refresh_from_db()
    assert world.acme.fingerprint_policy == "strict"


def test_a_renamed_computer_is_told_what_changed_and_what_to_do(world):
    renamed = Agent(fingerprint={**FINGERPRINT, "hostname": "acme-srv02"})
    verdict = renamed.validate(world.machine_text)
    assert verdict["code"] == "FINGERPRINT_MISMATCH" and verdict["changed"] == ["hostname"]
    assert verdict["detail"].startswith("The computer name changed from acme-srv01 to acme-srv02.")
    assert "detach the old machine" in verdict["detail"] and "deactivate it on the old machine" in verdict["detail"]
    assert "activated on another machine" not in verdict["detail"]


def test_an_upgraded_install_is_told_the_version_changed(world):
    verdict = Agent(fingerprint={**FINGERPRINT, "product_version": "4.5.0"}).validate(world.machine_text)
    assert verdict["code"] == "FINGERPRINT_MISMATCH" and verdict["changed"] == ["product_version"]
    assert verdict["detail"].startswith("The product version changed from 4.4 to 4.5.")


def test_another_machine_is_named_as_such_with_what_differs(world):
    other = {"mac": "00:aa:bb:cc:dd:ee", "cpu_id": "AFEB", "hostname": "globex-01", "product_version": "4.4.2"}
    verdict = Agent(fingerprint=other).activate(world.machine_text)
    assert verdict["code"] == "FINGERPRINT_MISMATCH"
    assert verdict["detail"].startswith("This license key is activated on another machine (acme-srv01).")
    assert "The computer name changed from acme-srv01 to globex-01." in verdict["detail"]


def test_superseded_machines_leave_the_machines_tab(world):
    from django.utils import timezone

    now = timezone.now()
    newer = Machine.objects.create(
        uid="b" * 64, organization=world.acme, bound_at=now, first_seen_at=now, last_seen_at=now, hostname="acme-new"
    )
    Machine.objects.filter(pk=world.machine.pk).update(superseded_by=newer)
    page = world.client("org_admin").get("/organizations/acme/machines/").content.decode()
    assert "acme-new" in page and world.machine.uid[:12] not in page

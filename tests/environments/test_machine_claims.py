"""Machine squatting: Globex bound a machine Acme's agent uses; Acme files a claim with the UID its
agent shows, and a super-admin releases the machine to Acme (or rejects the claim)."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from environments.models import Machine, MachineClaim
from tests.conftest import OTHER_MACHINE, Agent


@pytest.fixture
def squatted(world):
    """Globex's key activated first on the machine that Acme's agent runs on."""
    verdict = Agent(fingerprint=OTHER_MACHINE).activate(world.globex_text)
    assert verdict["code"] == "VALID"
    from licenses.models import Kind
    from licenses.services import license_issue

    _, acme_text = license_issue(organization=world.acme, kind=Kind.MACHINE, actor=None, environment=world.production)
    assert Agent(fingerprint=OTHER_MACHINE).activate(acme_text)["code"] == "ORGANIZATION_MISMATCH"
    world.acme_text = acme_text
    world.squatted = Machine.objects.get(organization=world.globex)
    return world


def test_a_claim_is_filed_released_by_a_super_admin_and_the_agent_then_activates(squatted):
    world = squatted
    uid = world.squatted.uid
    typed = "-".join(uid[index : index + 16] for index in range(0, 64, 16)).upper()
    response = world.client("org_admin").post(
        "/organizations/acme/machines/claim/", {"uid": typed, "note": "Our build server since 2024"}
    )
    assert response.status_code == 302
    claim = MachineClaim.objects.get()
    assert (claim.claimant, claim.holder, claim.status) == (world.acme, world.globex, "open")
    machines = world.client("org_admin").get("/organizations/acme/machines/").content.decode()
    assert "Globex" not in machines  # the claimant learns no more than its agent did
    assert AuditEvent.objects.filter(action="machine.claim", organization=world.acme).exists()

    page = world.client("super_admin").get("/machine-claims/").content.decode()
    assert "Our build server since 2024" in page and "Globex" in page and "Acme Corp" in page
    response = world.client("super_admin").post(f"/machine-claims/{claim.pk}/", {"decision": "release"})
    assert response.status_code == 302
    claim.refresh_from_db()
    assert claim.status == "released"
    assert Agent(fingerprint=OTHER_MACHINE).activate(world.acme_text)["code"] == "VALID"
    assert Machine.objects.get(uid=uid).organization == world.acme
    for organization in (world.acme, world.globex):
        assert AuditEvent.objects.filter(action="machine.claim_release", organization=organization).exists()
    assert AuditEvent.objects.filter(action="machine.detach", organization=world.globex).exists()


def test_a_rejected_claim_leaves_the_machine_with_its_holder(squatted):
    world = squatted
    world.client("co_admin").post("/organizations/acme/machines/claim/", {"uid": world.squatted.uid})
    claim = MachineClaim.objects.get()
    world.client("super_admin").post(f"/machine-claims/{claim.pk}/", {"decision": "reject"})
    claim.refresh_from_db()
    assert claim.status == "rejected"
    assert Machine.objects.get(uid=world.squatted.uid).organization == world.globex
    again = world.client("super_admin").post(f"/machine-claims/{claim.pk}/", {"decision": "release"}, follow=True)
    assert "already settled" in again.content.decode()


@pytest.mark.parametrize(
    ("uid", "message"),
    [("xyz", "64 hexadecimal"), ("ab" * 32, "No organization holds this machine"), (None, "already yours")],
)
def test_claims_that_make_no_sense_are_refused_clearly(world, uid, message):
    uid = uid or world.machine.uid
    response = world.client("org_admin").post("/organizations/acme/machines/claim/", {"uid": uid})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not MachineClaim.objects.exists()


def test_filing_twice_keeps_one_open_claim(squatted):
    client = squatted.client("org_admin")
    for _ in range(2):
        client.post("/organizations/acme/machines/claim/", {"uid": squatted.squatted.uid})
    assert MachineClaim.objects.count() == 1


@pytest.mark.parametrize("role", ["org_admin", "co_admin", "partner"])
def test_only_super_admins_settle(squatted, role):
    squatted.client("org_admin").post("/organizations/acme/machines/claim/", {"uid": squatted.squatted.uid})
    claim = MachineClaim.objects.get()
    assert squatted.client(role).post(f"/machine-claims/{claim.pk}/", {"decision": "release"}).status_code == 403
    assert squatted.client(role).get("/machine-claims/").status_code == 403
    claim.refresh_from_db()
    assert claim.status == "open"

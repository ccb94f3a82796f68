"""Free-edition keys and the trial banner: what the command, the pages and the agent API say of them."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from licenses import keyformat
from licenses.models import LicenseKey
from organizations.models import Organization
from tests.conftest import FINGERPRINT, OTHER_MACHINE, Agent, command
from tests.organizations.test_lapsed import lapse


@pytest.fixture
def free_key(org):
    return command("issue_key", org["id"], "--kind", "free")


def test_issue_key_free_has_no_end_and_its_own_kind_letter(free_key):
    assert free_key["kind"] == "free" and free_key["expires_at"] is None
    assert free_key["key"].startswith("LP1F-")
    assert keyformat.key_parse(free_key["key"]).kind == "free"
    assert AuditEvent.objects.filter(action="license.issue", after__kind="free").exists()


def test_a_free_key_activates_with_the_free_edition_and_no_paid_features(agent, free_key):
    verdict = agent.activate(free_key["key"])
    assert verdict["code"] == "VALID"
    license_ = verdict["license"]
    assert (license_["kind"], license_["edition"], license_["expires_at"]) == ("free", "free", None)
    assert license_["capabilities"] == {"save_data_configuration": True, "paid_features": False}
    assert "banner" not in license_
    assert agent.validate(free_key["key"])["code"] == "VALID"


def test_a_free_key_is_bound_like_a_machine_key(agent, free_key):
    assert agent.activate(free_key["key"])["code"] == "VALID"
    other = Agent(fingerprint=OTHER_MACHINE)
    assert other.activate(free_key["key"])["code"] == "FINGERPRINT_MISMATCH"
    assert agent.deactivate(free_key["key"])["code"] == "DEACTIVATED"
    assert other.activate(free_key["key"])["code"] == "VALID"


def test_a_free_key_does_not_end_with_the_subscription(agent, free_key, org):
    lapse(Organization.objects.get(uuid=org["id"]))
    assert agent.activate(free_key["key"])["code"] == "VALID"


def test_paid_and_trial_keys_have_paid_features_and_the_trial_key_a_banner(agent, machine_key, trial_key):
    machine = agent.activate(machine_key["key"])["license"]
    assert machine["capabilities"]["paid_features"] is True and "banner" not in machine
    trial = Agent(fingerprint={**FINGERPRINT, "hostname": "trial-box"}).activate(trial_key["key"])["license"]
    assert trial["capabilities"]["paid_features"] is True
    assert trial["banner"].startswith("Trial license: for evaluation and stopgap use")


def test_free_key_keeps_existing_keys_valid(machine_key, server_key, temporary_key, trial_key):
    for issued in (machine_key, server_key, temporary_key, trial_key):
        assert keyformat.key_parse(issued["key"]).kind == issued["kind"]


def test_org_admin_requests_a_free_edition_key_next_to_the_trial(world):
    admin = world.client("org_admin")
    page = admin.get("/organizations/acme/trial/").content.decode()
    assert "Request trial license" in page and "Request free-edition key" in page
    response = admin.post("/organizations/acme/trial/", {"kind": "free"}, follow=True)
    assert response.redirect_chain == [("/organizations/acme/trial/", 302)]
    key = LicenseKey.objects.get(organization=world.acme, kind="free")
    assert key.requested_by == world.users["org_admin"] and key.expires_at is None
    assert "Free-edition key issued" in response.content.decode()


@pytest.mark.parametrize(("role", "status"), [("co_admin", 403), ("outsider", 404), ("partner", 404)])
def test_others_cannot_request_a_free_edition_key(world, role, status):
    assert world.client(role).post("/organizations/acme/trial/", {"kind": "free"}).status_code == status
    assert not LicenseKey.objects.filter(kind="free").exists()


def test_unknown_kind_is_refused_by_the_command(org):
    with pytest.raises(CommandError):
        call_command("issue_key", org["id"], "--kind", "gold")


def test_the_key_page_shows_moves_used_of_the_transfer_limit(world):
    page = world.client("org_admin").get(f"/keys/{world.machine_key.public_id}/").content.decode()
    assert "0 of 3 moves to another machine used in the last 30 days" in page

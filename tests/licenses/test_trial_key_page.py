"""The trial key pages through Django's test client: the role that may does it, the roles that may not
change nothing."""

from __future__ import annotations

import pytest

from licenses.models import LicenseKey
from tests.conftest import FINGERPRINT, Agent, shown_key


def test_org_admin_requests_a_trial_key(world):
    ends = world.acme.subscription_ends_at
    world.client("super_admin").post("/organizations/acme/trial/grant/")  # the world's trial key used the first
    response = world.client("org_admin").post("/organizations/acme/trial/", follow=True)
    key = shown_key(response)
    html = response.content.decode()
    assert "Trial license: for evaluation and stopgap use" in html and "29 days left" in html
    verdict = Agent(fingerprint={**FINGERPRINT, "hostname": "trial-box"}).activate(key)
    assert verdict["code"] == "VALID" and verdict["license"]["edition"] == "trial"
    assert verdict["license"]["capabilities"]["save_data_configuration"] is True
    world.acme.refresh_from_db()
    assert world.acme.subscription_ends_at == ends


@pytest.mark.parametrize(("role", "status"), [("co_admin", 403), ("outsider", 404), ("partner", 404)])
def test_others_cannot_request_a_trial_key(world, role, status):
    before = LicenseKey.objects.filter(kind="trial").count()
    assert world.client(role).post("/organizations/acme/trial/").status_code == status
    assert LicenseKey.objects.filter(kind="trial").count() == before

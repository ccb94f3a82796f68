"""The organizations pages through Django's test client: the role that may does it, the roles that may
not change nothing."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from organizations.models import Organization
from tests.conftest import Agent


def test_super_admin_creates_an_organization(world):
    client = world.client("super_admin")
    response = client.post(
        "/organizations/new/",
        {
            "name": "Initech",
            "slug": "",
            "edition": "trial",
            "subscription_starts_at": "2026-01-01T00:00",
            "subscription_ends_at": "2027-01-01T00:00",
            "transfer_limit": "5",
        },
    )
    organization = Organization.objects.get(name="Initech")
    assert response["Location"] == "/organizations/initech/"
    assert organization.edition == "trial" and organization.transfer_limit == 5
    assert organization.subscription_ends_at.isoformat() == "2027-01-01T00:00:00+00:00"
    assert AuditEvent.objects.filter(action="organization.create", organization=organization).exists()


def test_organization_form_shows_errors_next_to_fields_and_keeps_input(world):
    response = world.client("super_admin").post(
        "/organizations/new/",
        {
            "name": "Initech",
            "slug": "acme",
            "edition": "paid",
            "subscription_starts_at": "2026-01-01T00:00",
            "subscription_ends_at": "2025-01-01T00:00",
            "transfer_limit": "3",
        },
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "The subscription cannot end before it starts." in html
    assert 'value="Initech"' in html
    assert not Organization.objects.filter(name="Initech").exists()
    response = world.client("super_admin").post(
        "/organizations/new/",
        {
            "name": "Initech",
            "slug": "acme",
            "edition": "paid",
            "subscription_starts_at": "2026-01-01T00:00",
            "subscription_ends_at": "2027-01-01T00:00",
            "transfer_limit": "3",
        },
    )
    assert "The slug &#x27;acme&#x27; is taken." in response.content.decode()


def test_organization_search_by_name_slug_and_uuid(world):
    client = world.client("super_admin")
    assert "Globex" not in client.get("/organizations/?q=acm").content.decode()
    html = client.get(f"/organizations/?q={world.globex.uuid}").content.decode()
    assert "Globex" in html and "Acme Corp" not in html
    assert "Acme Corp" in client.get("/organizations/?q=ACME").content.decode()


@pytest.mark.parametrize(("role", "status"), [("super_admin", 302), ("org_admin", 403), ("outsider", 404)])
def test_edit_subscription(world, role, status):
    ends = world.acme.subscription_ends_at
    response = world.client(role).post(
        "/organizations/acme/edit/",
        {
            "name": "Acme Corporation",
            "slug": "acme",
            "edition": "paid",
            "subscription_starts_at": "2026-01-01T00:00",
            "subscription_ends_at": "2030-06-30T12:00",
            "transfer_limit": "3",
        },
    )
    assert response.status_code == status
    world.acme.refresh_from_db()
    if status == 302:
        assert world.acme.name == "Acme Corporation"
        assert world.acme.subscription_ends_at.isoformat() == "2030-06-30T12:00:00+00:00"
    else:
        assert world.acme.name == "Acme Corp" and world.acme.subscription_ends_at == ends


@pytest.mark.parametrize(("role", "status"), [("super_admin", 302), ("co_admin", 403), ("partner", 404)])
def test_suspend_and_resume(world, role, status):
    client = world.client(role)
    assert client.post("/organizations/acme/status/", {"status": "suspended"}).status_code == status
    world.acme.refresh_from_db()
    assert world.acme.is_suspended is (status == 302)
    if status == 302:
        assert Agent().validate(world.machine_text)["code"] == "SUSPENDED"
        client.post("/organizations/acme/status/", {"status": "active"})
        world.acme.refresh_from_db()
        assert not world.acme.is_suspended
        assert Agent().validate(world.machine_text)["code"] == "VALID"

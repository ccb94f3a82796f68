"""The temporary keys pages through Django's test client: the role that may does it, the roles that may
not change nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from licenses.models import Kind, LicenseKey
from tests.conftest import Agent, shown_key


def test_super_admin_generates_temporary_keys(world):
    client = world.client("super_admin")
    response = client.post(
        "/organizations/acme/temporary-keys/generate/",
        {"ttl": "3600", "issued_to": str(world.users["partner"].pk)},
        follow=True,
    )
    key = shown_key(response)
    created = LicenseKey.objects.get(
        kind="temporary", issued_to=world.users["partner"], expires_at__lt=timezone.now() + timedelta(hours=2)
    )
    assert abs((created.expires_at - created.issued_at) - timedelta(hours=1)) < timedelta(seconds=2)
    assert key.startswith("LP1T-")
    assert Agent().validate(key)["code"] == "VALID"  # the agent's machine is registered to Acme
    second = shown_key(
        client.post("/organizations/acme/temporary-keys/generate/", {"ttl": str(7 * 86400)}, follow=True)
    )
    assert second != key
    assert LicenseKey.objects.filter(kind="temporary", status="active").count() == 3  # many at once


def test_ttl_must_be_one_of_the_choices(world):
    response = world.client("super_admin").post("/organizations/acme/temporary-keys/generate/", {"ttl": "60"})
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()


def test_temporary_keys_list_active_first_then_latest_ended(world):
    from licenses.services import license_issue

    admin = world.users["super_admin"]
    soon, _ = license_issue(
        organization=world.acme, kind=Kind.TEMPORARY, actor=admin, ttl=timedelta(hours=1), description="soon"
    )
    ended, _ = license_issue(
        organization=world.acme, kind=Kind.TEMPORARY, actor=admin, ttl=timedelta(hours=1), description="old"
    )
    LicenseKey.objects.filter(pk=ended.pk).update(
        issued_at=timezone.now() - timedelta(hours=3), expires_at=timezone.now() - timedelta(hours=2)
    )
    html = world.client("super_admin").get("/organizations/acme/temporary-keys/").content.decode()
    active_part, ended_part = html.split("Latest ended")
    assert active_part.index(str(soon.public_id)[:8]) < active_part.index(str(world.temporary_key.public_id)[:8])
    assert "min" in active_part  # time left
    assert str(ended.public_id)[:8] in ended_part and str(ended.public_id)[:8] not in active_part


@pytest.mark.parametrize(
    ("role", "status"), [("org_admin", 403), ("co_admin", 403), ("partner", 404), ("outsider", 404)]
)
def test_only_super_admins_generate_temporary_keys(world, role, status):
    before = LicenseKey.objects.filter(kind="temporary").count()
    assert (
        world.client(role).post("/organizations/acme/temporary-keys/generate/", {"ttl": "3600"}).status_code == status
    )
    assert LicenseKey.objects.filter(kind="temporary").count() == before

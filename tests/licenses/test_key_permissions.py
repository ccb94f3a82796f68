"""Who issues which key (issue 16): co-admins do not issue machine keys; temporary keys are the
vendor's, seen read-only by their organization's admins and co-admins."""

from __future__ import annotations

import pytest

from licenses.models import Kind, LicenseKey


def test_a_co_admin_sees_who_issues_machine_keys_and_cannot(world):
    client = world.client("co_admin")
    html = client.get("/organizations/acme/licenses/").content.decode()
    assert 'data-testid="machine-key-issuers"' in html and "Issue machine key</button>" not in html
    keys = LicenseKey.objects.count()
    response = client.post("/organizations/acme/licenses/issue/", {"environment": str(world.production.uuid)})
    assert response.status_code == 403 and LicenseKey.objects.count() == keys
    assert (
        "Issue machine key</button>" in world.client("org_admin").get("/organizations/acme/licenses/").content.decode()
    )


@pytest.mark.parametrize("role", ["org_admin", "co_admin"])
def test_admins_see_temporary_keys_read_only(world, role):
    client = world.client(role)
    html = client.get("/organizations/acme/temporary-keys/").content.decode()
    assert str(world.temporary_key.public_id)[:8] in html
    assert 'data-testid="temporary-read-only"' in html and "only a super-admin" in html
    assert "temporary-keys/generate/" not in html
    detail = client.get(f"/keys/{world.temporary_key.public_id}/").content.decode()
    assert "Super-admins issue temporary keys" in detail
    assert f"/keys/{world.temporary_key.public_id}/revoke/" not in detail
    assert client.post(f"/keys/{world.temporary_key.public_id}/reveal/").status_code == 403
    response = client.post(f"/keys/{world.temporary_key.public_id}/revoke/", {"reason": "x", "confirm": "yes"})
    assert response.status_code == 403
    assert LicenseKey.objects.get(pk=world.temporary_key.pk).status == "active"
    assert client.post("/organizations/acme/temporary-keys/generate/", {"ttl": "3600"}).status_code == 403
    assert not LicenseKey.objects.filter(kind=Kind.TEMPORARY).exclude(pk=world.temporary_key.pk).exists()


def test_a_super_admin_still_generates_reveals_and_revokes_temporary_keys(world):
    client = world.client("super_admin")
    html = client.get("/organizations/acme/temporary-keys/").content.decode()
    assert "temporary-keys/generate/" in html
    assert (
        f"/keys/{world.temporary_key.public_id}/revoke/"
        in client.get(f"/keys/{world.temporary_key.public_id}/").content.decode()
    )
    assert client.post(f"/keys/{world.temporary_key.public_id}/reveal/").status_code == 200

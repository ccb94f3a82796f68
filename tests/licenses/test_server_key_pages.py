"""The server access keys pages through Django's test client: the role that may does it, the roles that
may not change nothing."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from audit.models import AuditEvent
from licenses.models import Kind, LicenseKey
from tests.conftest import Agent, shown_key


def test_generate_server_key_records_the_requester(world):
    expires = (timezone.now() + timedelta(days=30)).date()
    response = world.client("co_admin").post(
        "/organizations/acme/server-keys/generate/",
        {"machine_name": "ACME-SRV01", "expires_on": expires.isoformat(), "description": "Reports"},
        follow=True,
    )
    key = shown_key(response)
    created = LicenseKey.objects.get(kind="server", description="Reports")
    assert created.requested_by == world.users["co_admin"]
    verdict = Agent().activate(key)
    assert verdict["code"] == "VALID"
    assert verdict["license"]["expires_at"] == f"{expires + timedelta(days=1)}T00:00:00Z"


def test_server_key_form_errors(world):
    response = world.client("co_admin").post(
        "/organizations/acme/server-keys/generate/", {"machine_name": "box", "expires_on": "2000-01-01"}
    )
    html = response.content.decode()
    assert response.status_code == 400 and "The expiration date is in the past." in html and 'value="box"' in html


def test_co_admin_edits_a_key_another_admin_created(world):
    url = f"/keys/{world.server_key.public_id}/edit/"
    client = world.client("co_admin")
    new_date = (timezone.now() + timedelta(days=10)).date()
    assert (
        client.post(
            url, {"description": "Edited", "status": "inactive", "expires_on": new_date.isoformat()}
        ).status_code
        == 302
    )
    world.server_key.refresh_from_db()
    assert world.server_key.description == "Edited" and world.server_key.status == "inactive"
    assert world.server_key.machine_name == "acme-srv01"
    assert Agent().activate(world.server_text)["code"] == "SUSPENDED"


def test_a_server_keys_new_date_cannot_be_in_the_past_but_an_ended_key_keeps_its_own(world):
    url = f"/keys/{world.server_key.public_id}/edit/"
    client = world.client("org_admin")
    ends = world.server_key.expires_at
    events = AuditEvent.objects.count()
    response = client.post(url, {"description": "Moved back", "status": "active", "expires_on": "2000-01-01"})
    assert response.status_code == 400 and "The expiration date is in the past." in response.content.decode()
    world.server_key.refresh_from_db()
    assert (world.server_key.expires_at, world.server_key.description) == (ends, "")
    assert AuditEvent.objects.count() == events  # nothing changed, nothing recorded
    # A key that has already ended: its description can still be edited, its date left as it is.
    ended = timezone.now() - timedelta(days=3)
    LicenseKey.objects.filter(pk=world.server_key.pk).update(
        expires_at=ended.replace(hour=0, minute=0, second=0, microsecond=0)
    )
    kept = (ended - timedelta(days=1)).date().isoformat()
    assert client.post(url, {"description": "Ended", "status": "active", "expires_on": kept}).status_code == 302
    world.server_key.refresh_from_db()
    assert world.server_key.description == "Ended"


def test_outsider_cannot_edit_a_server_key(world):
    url = f"/keys/{world.server_key.public_id}/edit/"
    assert (
        world.client("outsider")
        .post(url, {"description": "x", "status": "inactive", "expires_on": "2030-01-01"})
        .status_code
        == 404
    )


def test_bulk_delete_asks_first_then_deletes(world):
    from licenses.services import license_issue

    second, _ = license_issue(
        organization=world.acme,
        kind=Kind.SERVER,
        actor=world.users["org_admin"],
        machine_name="b",
        expires_on=timezone.now().date(),
    )
    client = world.client("co_admin")
    ids = [str(world.server_key.public_id), str(second.public_id)]
    confirm = client.post("/organizations/acme/server-keys/delete/", {"keys": ids})
    assert confirm.status_code == 200 and "Delete 2 server access keys?" in confirm.content.decode()
    assert LicenseKey.objects.visible().filter(kind="server").count() == 2
    response = client.post("/organizations/acme/server-keys/delete/", {"keys": ids, "confirm": "yes"}, follow=True)
    assert "2 server access keys deleted." in response.content.decode()
    assert LicenseKey.objects.visible().filter(kind="server").count() == 0
    assert Agent().activate(world.server_text)["code"] == "REVOKED"


def test_bulk_delete_without_selection_says_so(world):
    response = world.client("co_admin").post("/organizations/acme/server-keys/delete/", {}, follow=True)
    assert "Select at least one key." in response.content.decode()


def test_outsider_cannot_bulk_delete_acme_keys(world):
    ids = [str(world.server_key.public_id)]
    world.client("outsider").post("/organizations/globex/server-keys/delete/", {"keys": ids, "confirm": "yes"})
    assert (
        world.client("outsider")
        .post("/organizations/acme/server-keys/delete/", {"keys": ids, "confirm": "yes"})
        .status_code
        == 404
    )
    world.server_key.refresh_from_db()
    assert world.server_key.deleted_at is None and world.server_key.status == "active"

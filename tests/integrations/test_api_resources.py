"""Each resource through HTTP: the same services, rules and audit as the pages, the token's name as actor."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from licenses.models import LicenseKey
from licenses.services import license_find
from organizations.models import Organization
from tests.integrations.conftest import error_of

pytestmark = [pytest.mark.django_db]


def test_organizations_create_show_edit_renew_suspend_resume(world, vendor):
    response = vendor.post("/organizations", {"name": "Initech", "edition": "paid", "subscription_days": 30})
    assert response.status_code == 201
    created = response.json()
    assert created["slug"] == "initech" and created["subscription_ends_at"].endswith("Z")
    event = AuditEvent.objects.get(action="organization.create", object_id=created["uuid"])
    assert event.actor_label.startswith("API token billing")
    assert vendor.get(f"/organizations/{created['uuid']}").json()["slug"] == "initech"

    response = vendor.patch("/organizations/initech", {"name": "Initech Ltd", "fingerprint_policy": "tolerant"})
    assert response.status_code == 200 and response.json()["name"] == "Initech Ltd"
    assert response.json()["fingerprint_policy"] == "tolerant"

    organization = Organization.objects.get(slug="initech")
    previous_end = organization.subscription_ends_at
    response = vendor.post("/organizations/initech/renew", {"days": 30})
    assert response.status_code == 200
    organization.refresh_from_db()
    assert organization.subscription_ends_at == previous_end + timedelta(days=30)  # from the previous paid end
    assert vendor.post("/organizations/initech/renew", {"days": 30, "months": 1}).status_code == 400
    assert error_of(vendor.post("/organizations/initech/renew", {}))["code"] == "BAD_REQUEST"

    assert vendor.post("/organizations/initech/suspend").json()["status"] == "suspended"
    assert vendor.get("/organizations", status="suspended").json()["data"][0]["slug"] == "initech"
    assert vendor.post("/organizations/initech/resume").json()["status"] == "active"
    actions = set(AuditEvent.objects.filter(organization=organization).values_list("action", flat=True))
    assert {"organization.update", "organization.renew", "organization.suspend", "organization.resume"} <= actions


def test_organization_create_with_an_end_and_bad_input(world, vendor):
    ends = (timezone.now() + timedelta(days=10)).isoformat()
    response = vendor.post("/organizations", {"name": "Hooli", "subscription_ends_at": ends, "transfer_limit": 5})
    assert response.status_code == 201 and response.json()["transfer_limit"] == 5
    response = vendor.post("/organizations", {"name": "   "})
    assert response.status_code == 400 and "name" in error_of(response)["fields"]
    response = vendor.post("/organizations", {"name": "X", "edition": "gold"})
    assert "edition" in error_of(response)["fields"]
    response = vendor.post("/organizations", {"name": "X", "subscription_days": 3, "subscription_ends_at": ends})
    assert "subscription_ends_at" in error_of(response)["fields"]
    assert "transfer_limit" in error_of(vendor.patch("/organizations/acme", {"transfer_limit": 101}))["fields"]
    assert "name" in error_of(vendor.patch("/organizations/acme", {"name": None}))["fields"]


def test_the_services_hold_the_rules_the_forms_showed(world):
    """The transfer limit's bound and an edit's name and edition are the service's, for every caller."""
    from django.core.exceptions import ValidationError

    from organizations.services import organization_update

    for fields in ({"transfer_limit": 101}, {"name": "  "}, {"edition": "gold"}):
        with pytest.raises(ValidationError) as refused:
            organization_update(organization=world.acme, actor=None, **fields)
        assert set(refused.value.message_dict) == set(fields)


def test_organizations_list_filters(world, vendor):
    ago = timezone.now() - timedelta(days=10)
    Organization.objects.filter(pk=world.globex.pk).update(
        subscription_starts_at=ago, subscription_ends_at=ago + timedelta(days=1)
    )
    assert [row["slug"] for row in vendor.get("/organizations", status="lapsed").json()["data"]] == ["globex"]
    assert [row["slug"] for row in vendor.get("/organizations", status="active").json()["data"]] == ["acme"]
    assert [row["slug"] for row in vendor.get("/organizations", q="glob").json()["data"]] == ["globex"]
    prefix = str(world.acme.uuid)[:8]
    assert [row["slug"] for row in vendor.get("/organizations", q=prefix).json()["data"]] == ["acme"]
    assert error_of(vendor.get("/organizations", status="gone"))["fields"].keys() == {"status"}


def test_environments_list_create_and_status(world, acme):
    response = acme.post("/organizations/acme/environments", {"name": "Staging"})
    assert response.status_code == 201 and response.json()["status"] == "enabled"
    duplicate = acme.post("/organizations/acme/environments", {"name": "staging"})
    assert duplicate.status_code == 400 and "name" in error_of(duplicate)["fields"]
    names = [row["name"] for row in acme.get("/organizations/acme/environments").json()["data"]]
    assert names == ["Staging", "Production"]
    assert acme.patch("/organizations/acme/environments/staging", {"status": "disabled"}).json()["status"] == "disabled"
    deleted = acme.patch("/organizations/acme/environments/Production", {"status": "deleted"})
    assert deleted.json()["status"] == "deleted"
    world.machine_key.refresh_from_db()
    assert world.machine_key.machine is None  # deleting released its machines' keys, as on the page
    enabled = acme.patch("/organizations/acme/environments/Production", {"status": "enabled"})
    assert enabled.json()["status"] == "enabled"
    assert acme.patch("/organizations/acme/environments/nowhere", {"status": "enabled"}).status_code == 404
    assert acme.patch("/organizations/acme/environments/staging", {"status": "gone"}).status_code == 400


def test_machines_list_and_detach(world, acme):
    rows = acme.get("/organizations/acme/machines").json()["data"]
    assert [row["uid"] for row in rows] == [world.machine.uid]
    assert rows[0]["keys"] == [str(world.machine_key.public_id)] and rows[0]["last_seen_at"].endswith("Z")
    spaced = " ".join(world.machine.uid[i : i + 8] for i in range(0, 64, 8)).upper()
    response = acme.post(f"/machines/{spaced.replace(' ', '-')}/detach")
    assert response.status_code == 200
    assert response.json()["released_keys"] == [str(world.machine_key.public_id)]
    assert acme.get("/organizations/acme/machines").json()["data"] == []
    event = AuditEvent.objects.get(action="machine.detach")
    assert event.actor_label.startswith("API token acme-ci")
    assert acme.post(f"/machines/{world.machine.uid}/detach").status_code == 404  # no longer Acme's
    assert acme.post("/machines/not-a-uid/detach").status_code == 404


def test_keys_issue_of_each_kind_the_text_once(world, vendor):
    expires = (timezone.now() + timedelta(days=30)).date().isoformat()
    bodies = [
        {"kind": "machine", "environment": "Production", "description": "CI"},
        {"kind": "temporary", "ttl": "2h"},
        {"kind": "server", "machine_name": "acme-srv02", "expires_on": expires},
        {"kind": "free"},
    ]
    for body in bodies:
        response = vendor.post("/organizations/acme/keys", body)
        assert response.status_code == 201, response.content
        answer = response.json()
        assert answer["kind"] == body["kind"]
        assert license_find(answer["key"]).public_id.hex == answer["id"].replace("-", "")
        shown = vendor.get(f"/keys/{answer['id']}").json()
        assert "key" not in shown and shown["id"] == answer["id"]
    # the world's trial key took Acme's one stopgap: the stopgap rule answers
    response = vendor.post("/organizations/acme/keys", {"kind": "trial"})
    assert response.status_code == 400 and "kind" in error_of(response)["fields"]
    for body, field in (
        ({"kind": "machine"}, "environment"),
        ({"kind": "machine", "environment": "Nowhere"}, "environment"),
        ({"kind": "temporary"}, "ttl"),
        ({"kind": "temporary", "ttl": "9y"}, "ttl"),
        ({"kind": "server", "machine_name": "x"}, "expires_on"),
        ({"kind": "server", "expires_on": expires}, "machine_name"),
        ({"kind": "server", "machine_name": "x", "expires_on": "2001-01-01"}, "expires_on"),
        ({"kind": "gold"}, "kind"),
    ):
        response = vendor.post("/organizations/acme/keys", body)
        assert response.status_code == 400, (body, response.content)
        assert field in error_of(response)["fields"], (body, response.json())
    event = AuditEvent.objects.filter(action="license.issue").first()
    assert event.actor_label.startswith("API token billing") and "key" not in (event.after or {})


def test_keys_list_filters(world, acme):
    kinds = {row["kind"] for row in acme.get("/organizations/acme/keys").json()["data"]}
    assert kinds == {"machine", "server", "temporary", "trial"}
    assert [row["kind"] for row in acme.get("/organizations/acme/keys", kind="server").json()["data"]] == ["server"]
    world.machine_key.status = LicenseKey.Status.INACTIVE
    world.machine_key.save()
    rows = acme.get("/organizations/acme/keys", status="inactive").json()["data"]
    assert [row["id"] for row in rows] == [str(world.machine_key.public_id)]
    assert acme.get("/organizations/acme/keys", kind="gold").status_code == 400


def test_server_keys_are_edited_and_other_kinds_refused(world, acme):
    key_id = world.server_key.public_id
    response = acme.patch(f"/keys/{key_id}", {"description": "rack 4", "status": "inactive"})
    assert response.status_code == 200 and response.json()["status"] == "inactive"
    assert response.json()["description"] == "rack 4"
    world.server_key.refresh_from_db()
    assert world.server_key.expires_at == world.server_key.expires_at  # unchanged date kept
    later = (timezone.now() + timedelta(days=200)).date()
    response = acme.patch(f"/keys/{key_id}", {"expires_on": later.isoformat()})
    assert response.json()["expires_at"].startswith((later + timedelta(days=1)).isoformat())
    response = acme.patch(f"/keys/{world.machine_key.public_id}", {"description": "x"})
    assert response.status_code == 409 and error_of(response)["code"] == "CONFLICT"
    assert acme.patch(f"/keys/{key_id}", {"status": "revoked"}).status_code == 400


def test_revoke_and_history(world, acme):
    key_id = world.machine_key.public_id
    history = acme.get(f"/keys/{key_id}/history").json()["data"]
    assert [row["event"] for row in history] == ["activate"]
    response = acme.post(f"/keys/{key_id}/revoke", {"reason": "leaked"})
    assert response.status_code == 200 and response.json()["status"] == "revoked"
    assert response.json()["revocation_reason"] == "leaked" and response.json()["machine"] is None
    assert [row["event"] for row in acme.get(f"/keys/{key_id}/history").json()["data"]] == ["revoke", "activate"]
    again = acme.post(f"/keys/{key_id}/revoke", {"reason": "again"})
    assert again.status_code == 409 and error_of(again)["code"] == "CONFLICT"
    assert acme.get("/keys/not-a-uuid").status_code == 404
    event = AuditEvent.objects.get(action="license.revoke")
    assert event.actor_label.startswith("API token acme-ci") and event.actor_id is None


def test_audit_events_filters(world, vendor):
    vendor.post("/organizations/acme/suspend")
    rows = vendor.get("/audit-events", organization="acme", action="organization.").json()["data"]
    assert [row["action"] for row in rows] == ["organization.suspend", "organization.create"]
    later = (timezone.now() + timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    assert vendor.get("/audit-events", since=later).json()["data"] == []
    earlier = (timezone.now() - timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
    assert len(vendor.get("/audit-events", since=earlier, limit=200).json()["data"]) > 5
    assert vendor.get("/audit-events", since="yesterday").status_code == 400
    assert vendor.get("/audit-events", organization="nowhere").status_code == 404

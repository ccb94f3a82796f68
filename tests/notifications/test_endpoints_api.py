"""``/webhook-endpoints`` and ``/webhook-deliveries`` through HTTP: the secret shown once, bad input
refused with the field named and nothing saved, organization tokens kept to their organization,
every change audited, a re-send making the delivery pending again."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from integrations.tokens import api_token_create
from notifications.models import Delivery, Event, WebhookEndpoint
from tests.integrations.conftest import ALL_SCOPES, API, ORGANIZATION_SCOPES, error_of

pytestmark = [pytest.mark.django_db]

HOOK = "https://127.0.0.1:9/hooks"


@pytest.fixture
def vendor(world) -> API:
    """A vendor token of every scope (the super-admin's), as the billing system would hold."""
    return API(api_token_create(actor=world.users["super_admin"], name="billing", scopes=ALL_SCOPES)[1])


@pytest.fixture
def acme(world) -> API:
    """An Acme token made by Acme's admin."""
    admin = world.users["org_admin"]
    return API(api_token_create(actor=admin, name="acme-ci", scopes=ORGANIZATION_SCOPES, organization=world.acme)[1])


@pytest.fixture(autouse=True)
def allow_local(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_DESTINATIONS = True


def delivery_of(endpoint: WebhookEndpoint, status=Delivery.Status.FAILED) -> Delivery:
    event = Event.objects.create(type="license.created", organization=endpoint.organization, data={"id": "x"})
    return Delivery.objects.create(event=event, endpoint=endpoint, status=status, attempts=3, response_status=500)


def test_a_vendor_token_creates_a_vendor_wide_endpoint_and_sees_its_secret_once(world, vendor):
    response = vendor.post("/webhook-endpoints", {"url": HOOK, "events": ["*"], "description": "CRM"})
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["secret"].startswith("whsec_") and created["organization"] is None
    assert created["events"] == ["*"] and created["enabled"] is True and created["created_at"].endswith("Z")
    shown = vendor.get(f"/webhook-endpoints/{created['id']}").json()
    assert "secret" not in shown and shown["url"] == HOOK and shown["description"] == "CRM"
    assert [row["id"] for row in vendor.get("/webhook-endpoints").json()["data"]] == [created["id"]]
    event = AuditEvent.objects.get(action="webhook.create", object_id=created["id"])
    assert event.actor_label.startswith("API token billing") and event.organization is None


def test_a_vendor_token_creates_an_organizations_endpoint_by_slug(world, vendor):
    response = vendor.post("/webhook-endpoints", {"url": HOOK, "events": ["license.created"], "organization": "acme"})
    assert response.status_code == 201 and response.json()["organization"] == "acme"
    assert WebhookEndpoint.objects.get().organization == world.acme
    response = vendor.post("/webhook-endpoints", {"url": HOOK, "events": ["*"], "organization": "nope"})
    assert response.status_code == 404


def test_an_idempotent_create_answers_the_same_endpoint_and_secret_again(world, vendor):
    body = {"url": HOOK, "events": ["*"]}
    first = vendor.post("/webhook-endpoints", body, headers={"Idempotency-Key": "hook-1"})
    again = vendor.post("/webhook-endpoints", body, headers={"Idempotency-Key": "hook-1"})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json() and WebhookEndpoint.objects.count() == 1


def test_an_organization_token_reaches_its_organizations_endpoints_only(world, acme, vendor):
    created = acme.post("/webhook-endpoints", {"url": HOOK, "events": ["license.revoked", "license.created"]})
    assert created.status_code == 201 and created.json()["organization"] == "acme"
    assert created.json()["events"] == ["license.created", "license.revoked"]  # the catalogue's order
    vendor_wide = vendor.post("/webhook-endpoints", {"url": HOOK, "events": ["*"]}).json()
    globex = vendor.post("/webhook-endpoints", {"url": HOOK, "events": ["*"], "organization": "globex"}).json()
    assert [row["id"] for row in acme.get("/webhook-endpoints").json()["data"]] == [created.json()["id"]]
    for other in (vendor_wide, globex):
        assert acme.get(f"/webhook-endpoints/{other['id']}").status_code == 404
        assert acme.patch(f"/webhook-endpoints/{other['id']}", {"enabled": False}).status_code == 404
        assert acme.call("delete", f"/webhook-endpoints/{other['id']}").status_code == 404
        assert acme.get(f"/webhook-endpoints/{other['id']}/deliveries").status_code == 404
        delivery = delivery_of(WebhookEndpoint.objects.get(uuid=other["id"]))
        assert acme.post(f"/webhook-deliveries/{delivery.pk}/resend").status_code == 404
        assert Delivery.objects.get(pk=delivery.pk).status == Delivery.Status.FAILED
    response = acme.post("/webhook-endpoints", {"url": HOOK, "events": ["*"], "organization": "globex"})
    assert response.status_code == 404 and WebhookEndpoint.objects.filter(organization=world.globex).count() == 1


def test_a_token_without_the_webhooks_scope_is_refused(world):
    _token, text = api_token_create(actor=world.users["super_admin"], name="reader", scopes=["keys:read"])
    reader = API(text)
    assert reader.get("/webhook-endpoints").status_code == 403
    assert reader.post("/webhook-endpoints", {"url": HOOK, "events": ["*"]}).status_code == 403
    assert API(None).get("/webhook-endpoints").status_code == 401
    assert WebhookEndpoint.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://127.0.0.1/x", "events": ["*"]}, "url"),
        ({"url": "not a url", "events": ["*"]}, "url"),
        ({"url": "", "events": ["*"]}, "url"),
        ({"url": HOOK, "events": []}, "events"),
        ({"url": HOOK, "events": ["license.exploded"]}, "events"),
        ({"url": HOOK, "events": ["*", "license.created"]}, "events"),
        ({"url": HOOK}, "events"),
        ({"url": HOOK, "events": ["*"], "colour": "red"}, "colour"),
    ],
)
def test_bad_input_names_the_field_and_saves_nothing(world, vendor, body, field):
    response = vendor.post("/webhook-endpoints", body)
    assert response.status_code == 400
    assert field in error_of(response)["fields"], error_of(response)
    assert WebhookEndpoint.objects.count() == 0 and not AuditEvent.objects.filter(action="webhook.create").exists()


def test_plain_http_and_private_destinations_are_refused_unless_the_setting_allows(world, vendor, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_DESTINATIONS = False
    response = vendor.post("/webhook-endpoints", {"url": "http://example.com/hook", "events": ["*"]})
    assert "https://" in error_of(response)["fields"]["url"][0]
    response = vendor.post("/webhook-endpoints", {"url": "https://127.0.0.1/hook", "events": ["*"]})
    assert response.status_code == 400 and "127.0.0.1" in error_of(response)["fields"]["url"][0]
    assert WebhookEndpoint.objects.count() == 0
    settings.WEBHOOK_ALLOW_PRIVATE_DESTINATIONS = True
    assert vendor.post("/webhook-endpoints", {"url": "http://127.0.0.1/hook", "events": ["*"]}).status_code == 201


def test_patch_changes_and_re_enabling_clears_why_it_was_disabled(world, vendor):
    created = vendor.post("/webhook-endpoints", {"url": HOOK, "events": ["*"]}).json()
    WebhookEndpoint.objects.filter(uuid=created["id"]).update(
        enabled=False, disabled_reason="The receiver answered 410 Gone."
    )
    path = f"/webhook-endpoints/{created['id']}"
    assert vendor.get(path).json()["disabled_reason"] == "The receiver answered 410 Gone."
    response = vendor.patch(path, {"enabled": True, "events": ["license.revoked"], "description": "billing"})
    assert response.status_code == 200
    shown = response.json()
    assert shown["enabled"] is True and shown["disabled_reason"] == "" and shown["events"] == ["license.revoked"]
    assert WebhookEndpoint.objects.get(uuid=created["id"]).failing_since is None
    assert "events" in error_of(vendor.patch(path, {"events": ["nope"]}))["fields"]
    assert "url" in error_of(vendor.patch(path, {"url": None}))["fields"]
    assert vendor.get(path).json()["events"] == ["license.revoked"]  # nothing saved
    event = AuditEvent.objects.get(action="webhook.update", object_id=created["id"])
    assert event.before["enabled"] is False and event.after["enabled"] is True


def test_delete_removes_the_endpoint_and_its_log(world, vendor):
    created = vendor.post("/webhook-endpoints", {"url": HOOK, "events": ["*"]}).json()
    delivery_of(WebhookEndpoint.objects.get(uuid=created["id"]))
    response = vendor.call("delete", f"/webhook-endpoints/{created['id']}")
    assert response.status_code == 204
    assert vendor.get(f"/webhook-endpoints/{created['id']}").status_code == 404
    assert not Delivery.objects.exists()
    assert AuditEvent.objects.filter(action="webhook.delete", object_id=created["id"]).exists()


def test_the_delivery_log_and_a_resend(world, acme):
    created = acme.post("/webhook-endpoints", {"url": HOOK, "events": ["*"]}).json()
    endpoint = WebhookEndpoint.objects.get(uuid=created["id"])
    delivery = delivery_of(endpoint)
    rows = acme.get(f"/webhook-endpoints/{created['id']}/deliveries").json()["data"]
    assert [row["id"] for row in rows] == [delivery.pk]
    assert rows[0]["event_id"] == delivery.event.webhook_id and rows[0]["event_id"].startswith("msg_")
    assert rows[0]["status"] == "failed" and rows[0]["attempts"] == 3 and rows[0]["response_status"] == 500

    response = acme.post(f"/webhook-deliveries/{delivery.pk}/resend")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "pending" and response.json()["next_attempt_at"].endswith("Z")
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.PENDING and delivery.next_attempt_at is not None
    assert AuditEvent.objects.filter(action="webhook.resend", object_id=str(delivery.pk)).exists()
    assert acme.post("/webhook-deliveries/999999999/resend").status_code == 404
    assert acme.post("/webhook-deliveries/99999999999999999999/resend").status_code == 404

    endpoint.enabled = False
    endpoint.save()
    response = acme.post(f"/webhook-deliveries/{delivery.pk}/resend")
    assert response.status_code == 409 and "enable" in error_of(response)["detail"]

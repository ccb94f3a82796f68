"""Webhook deliveries as a receiver sees them: signed (verified with the ``standardwebhooks``
library and the JWK Set), retried with jittered backoff, stopped by 410, refused for private
destinations, and the delivery log filled in."""

from __future__ import annotations

import base64
import json
import random
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.utils import timezone
from standardwebhooks import Webhook

from audit.models import AuditEvent
from licenses import signing as portal_signing
from notifications import delivery
from notifications.models import Delivery, Event, WebhookEndpoint
from notifications.services import event_publish, new_secret
from tests.conftest import command
from tests.support.servers import Receiver


@pytest.fixture
def receiver():
    with Receiver() as running:
        yield running


@pytest.fixture
def allow_local(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_DESTINATIONS = True
    settings.WEBHOOK_TIMEOUT_SECONDS = 2


def endpoint_for(url: str, events=("*",)) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(url=url, events=list(events), secret=new_secret())


def published(organization_slug: str) -> Delivery:
    from organizations.models import Organization

    organization = Organization.objects.get(slug=organization_slug)
    event = event_publish(
        event_type="organization.updated", organization=organization, data={"slug": organization.slug}
    )
    return event.deliveries.get()


def attempt_now(item: Delivery) -> Delivery:
    Delivery.objects.filter(pk=item.pk).update(next_attempt_at=timezone.now())  # its retry's time has come
    delivery.attempt(item.pk)
    return Delivery.objects.get(pk=item.pk)


def test_a_delivery_is_signed_v1_and_v1a_and_logged(db, org, receiver, allow_local):
    endpoint = endpoint_for(receiver.url)
    item = published(org["slug"])
    delivery.attempt(item.pk)

    sent = receiver.wait_for(lambda got: len(got) == 1)[0]
    payload = Webhook(endpoint.secret).verify(sent["body"], sent["headers"])
    assert payload["type"] == "organization.updated" and payload["data"] == {"slug": org["slug"]}
    headers = {name.lower(): value for name, value in sent["headers"].items()}
    assert headers["webhook-id"] == item.event.webhook_id
    jwk = next(key for key in portal_signing.keyring().jwks()["keys"] if key["kid"] == headers["webhook-signature-kid"])
    public = Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(jwk["x"] + "=="))
    v1a = dict(part.split(",", 1) for part in headers["webhook-signature"].split())["v1a"]
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + sent["body"]
    public.verify(base64.b64decode(v1a), signed)

    item.refresh_from_db()
    assert (item.status, item.attempts, item.response_status) == ("succeeded", 1, 200)
    assert item.response_excerpt == "ok" and item.duration_ms is not None


def test_a_failed_attempt_is_retried_with_the_same_id_and_body_then_delivered(db, org, receiver, allow_local):
    endpoint_for(receiver.url)
    receiver.status = 500
    item = published(org["slug"])
    delivery.attempt(item.pk)
    item.refresh_from_db()
    assert item.status == "retrying" and item.response_status == 500 and item.attempts == 1
    assert timedelta(seconds=3) < item.next_attempt_at - item.last_attempt_at < timedelta(seconds=7)
    assert WebhookEndpoint.objects.get().failing_since is not None

    receiver.status = 200
    item = attempt_now(item)
    assert item.status == "succeeded" and item.attempts == 2
    first, second = receiver.received
    assert first["headers"]["webhook-id"] == second["headers"]["webhook-id"]
    assert first["body"] == second["body"]
    assert WebhookEndpoint.objects.get().failing_since is None


def test_an_attempt_not_yet_due_or_already_done_sends_nothing(db, org, receiver, allow_local):
    endpoint_for(receiver.url)
    receiver.status = 500
    item = published(org["slug"])
    delivery.attempt(item.pk)
    delivery.attempt(item.pk)  # a second job for it (a sweep's) before its retry is due
    assert len(receiver.received) == 1
    receiver.status = 200
    attempt_now(item)
    delivery.attempt(item.pk)  # delivered: done
    assert len(receiver.received) == 2


def test_410_disables_the_endpoint_and_fails_what_waits(db, org, receiver, allow_local):
    endpoint = endpoint_for(receiver.url)
    receiver.status = 410
    first, second = published(org["slug"]), published(org["slug"])
    delivery.attempt(first.pk)
    endpoint.refresh_from_db()
    assert not endpoint.enabled and "410" in endpoint.disabled_reason
    assert set(Delivery.objects.values_list("status", flat=True)) == {"failed"}
    delivery.attempt(second.pk)
    assert len(receiver.received) == 1
    event = AuditEvent.objects.get(action="webhook.disable")
    assert event.actor_label == "system (webhooks)" and event.object_id == str(endpoint.uuid)
    assert event_publish(event_type="organization.updated", organization=None, data={}) is None  # nobody listens


def test_a_timeout_or_refused_connection_is_an_attempt_to_retry(db, org, allow_local):
    import socket

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    endpoint_for(f"http://127.0.0.1:{port}/nobody-listens")
    item = published(org["slug"])
    delivery.attempt(item.pk)
    item.refresh_from_db()
    assert item.status == "retrying" and item.response_status is None
    assert "ConnectionRefusedError" in item.error


def test_the_retries_back_off_with_jitter_for_about_three_days():
    rng = random.Random(7)
    delays = [delivery.retry_delay(attempts, rng) for attempts in range(1, len(delivery.RETRY_SECONDS) + 2)]
    assert delays[-1] is None  # after the last retry the delivery has failed
    for base, delay in zip(delivery.RETRY_SECONDS, delays[:-1], strict=True):
        assert base * 0.8 <= delay <= base * 1.2
    bases = delivery.RETRY_SECONDS
    assert all(later > earlier for earlier, later in zip(bases, bases[1:], strict=False))  # backing off
    assert timedelta(days=2.7) < timedelta(seconds=sum(delays[:-1])) < timedelta(days=3.6)


def test_an_endpoint_failing_for_five_days_is_disabled(db, org, receiver, allow_local):
    endpoint = endpoint_for(receiver.url)
    receiver.status = 503
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=timezone.now() - timedelta(days=5, minutes=1))
    delivery.attempt(published(org["slug"]).pk)
    endpoint.refresh_from_db()
    assert not endpoint.enabled and "5 days" in endpoint.disabled_reason


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://localhost/hook",
        "http://[::1]/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://100.64.0.1/hook",
        "http://[fc00::1]/hook",
        "http://[fe80::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
        "http://224.0.0.1/hook",
    ],
)
def test_private_loopback_and_link_local_destinations_are_refused(settings, url):
    settings.WEBHOOK_ALLOW_PRIVATE_DESTINATIONS = False
    reason = delivery.destination_check(url)
    assert reason is not None and "public addresses only" in reason
    settings.WEBHOOK_ALLOW_PRIVATE_DESTINATIONS = True
    assert delivery.destination_check(url) is None


def test_a_refused_destination_is_never_contacted(db, org, receiver, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_DESTINATIONS = False
    endpoint_for(receiver.url)
    item = published(org["slug"])
    delivery.attempt(item.pk)
    item.refresh_from_db()
    assert receiver.received == [] and "public addresses only" in item.error and item.status == "retrying"


def test_bad_urls_get_a_reason():
    assert "https://" in delivery.destination_check("ftp://example.com/x")
    assert "cannot be resolved" in delivery.destination_check("https://no-such-host.invalid/x")


def test_an_audited_change_publishes_its_event_with_the_object_as_the_api_shows_it(db, org, receiver, allow_local):
    endpoint_for(receiver.url, events=["license.created", "license.revoked"])
    issued = command("issue_key", org["id"], "--kind", "machine", "--environment", "Production")
    command("revoke_key", issued["id"], "--reason", "refunded")
    command("renew_subscription", org["slug"], "--months", "1")  # not in the endpoint's filter
    events = list(Event.objects.order_by("created_at", "id"))
    assert [event.type for event in events] == ["license.created", "license.revoked"]
    assert events[1].data["id"] == issued["id"] and events[1].data["status"] == "revoked"
    assert "key" not in events[0].data
    assert json.loads(delivery.body_of(events[0]))["data"] == events[0].data


def test_the_sweep_defers_again_what_is_due_and_not_running(db, org, receiver, allow_local, settings):
    endpoint_for(receiver.url)
    item = published(org["slug"])
    assert delivery.sweep(timezone.now()) == (0 if settings.JOB_RUNNER == "procrastinate" else 1)
    later = timezone.now() + timedelta(minutes=5)
    assert delivery.sweep(later) == 1  # its job was lost (a killed worker): the sweep defers it again
    Delivery.objects.filter(pk=item.pk).update(status="succeeded")
    assert delivery.sweep(later) == 0

"""The expiry scan: each warning (30, 7, 1 days before an end, and the end) once, the nearest only
when found late, new ones for a new end; subscriptions and server and trial keys; the catalogue's
event beside each notice, reaching a webhook endpoint."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from licenses.models import Kind
from licenses.services import license_issue, license_revoke
from notifications import expiry
from notifications.models import Delivery, Event, Notice, WebhookEndpoint
from notifications.services import new_secret
from organizations.models import Organization
from organizations.services import organization_create, subscription_renew

pytestmark = pytest.mark.usefixtures("in_process")


def notices(**filters) -> list[tuple[str, str]]:
    """The scan's notices (a trial key's "issued" notice comes from its audit event, not the scan)."""
    scanned = Notice.objects.exclude(kind=Notice.Kind.TRIAL_REQUESTED)
    return sorted(scanned.filter(**filters).values_list("kind", "occasion"))


def test_a_subscription_seven_days_from_its_end_gets_one_seven_day_notice(people):
    now = timezone.now()
    ends = f"{people.acme.subscription_ends_at:%Y-%m-%d}"
    assert expiry.scan(now) == 1
    assert notices(subject_id=str(people.acme.uuid)) == [("subscription.expiring-soon", f"{ends}:7d")]
    notice = Notice.objects.get()
    assert notice.organization == people.acme and notice.sent_at is None
    assert expiry.scan(now) == 0 and expiry.scan(now + timedelta(hours=2)) == 0
    assert Notice.objects.count() == 1


def test_found_late_only_the_nearest_warning_then_the_next_ones_as_they_come(people):
    now = timezone.now()
    ends = people.acme.subscription_ends_at
    day = f"{ends:%Y-%m-%d}"
    expiry.scan(ends - timedelta(days=5))  # the 30- and 7-day moments have both passed: one notice
    assert notices(organization=people.acme) == [("subscription.expiring-soon", f"{day}:7d")]
    expiry.scan(ends - timedelta(hours=20))
    expiry.scan(ends - timedelta(hours=2))
    expiry.scan(ends + timedelta(minutes=1))
    expiry.scan(ends + timedelta(days=2))
    assert notices(organization=people.acme) == [
        ("subscription.expired", f"{day}:expired"),
        ("subscription.expiring-soon", f"{day}:1d"),
        ("subscription.expiring-soon", f"{day}:7d"),
    ]
    assert now < ends


def test_a_renewed_subscription_gets_notices_of_its_new_end(people):
    old_end = people.acme.subscription_ends_at
    expiry.scan(timezone.now())
    period = subscription_renew(organization=people.acme, actor=None, months=12)
    assert expiry.scan(timezone.now()) == 0  # the new end is a year away
    expiry.scan(period.ends_at - timedelta(days=29))
    assert set(notices(organization=people.acme)) == {
        ("subscription.expiring-soon", f"{old_end:%Y-%m-%d}:7d"),
        ("subscription.expiring-soon", f"{period.ends_at:%Y-%m-%d}:30d"),
    }


def test_a_free_edition_never_ends_and_long_past_ends_are_left_alone(db):
    now = timezone.now()
    organization_create(actor=None, name="Free", edition="free", subscription_days=3)
    organization_create(
        actor=None,
        name="Long gone",
        subscription_starts_at=now - timedelta(days=400),
        subscription_ends_at=now - timedelta(days=35),
    )
    organization_create(actor=None, name="Far", subscription_days=300)
    assert expiry.scan(now) == 0 and not Notice.objects.exists()
    trial = organization_create(actor=None, name="Trial", edition="trial", subscription_days=14)
    assert expiry.scan(now + timedelta(days=8)) == 1
    assert notices() == [("subscription.expiring-soon", f"{trial.subscription_ends_at:%Y-%m-%d}:7d")]


def test_a_server_key_expiring_then_expired(people):
    today = timezone.now().date()
    key, _text = license_issue(
        organization=people.acme,
        kind=Kind.SERVER,
        actor=None,
        machine_name="acme-srv01",
        expires_on=today + timedelta(days=60),  # valid through that day: it ends at the next 00:00Z
    )
    ends = key.expires_at
    assert expiry.scan(timezone.now()) == 1  # Acme's subscription's warning; the key's end is far
    assert expiry.scan(ends - timedelta(days=6)) == 1  # the key's 7-day warning (Acme's end is long past)
    assert notices(subject_id=str(key.public_id)) == [("license.expiring-soon", f"{ends:%Y-%m-%d}:7d")]
    expiry.scan(ends + timedelta(hours=1))  # no scan in its last day: only the end is told
    assert notices(subject_id=str(key.public_id)) == [
        ("license.expired", f"{ends:%Y-%m-%d}:expired"),
        ("license.expiring-soon", f"{ends:%Y-%m-%d}:7d"),
    ]
    assert not Event.objects.exists()  # no endpoint: the scan writes no event that nobody receives


def test_revoked_keys_and_keys_without_an_end_get_none_and_a_new_trial_no_thirty_day_warning(people):
    people.acme.subscription_ends_at = timezone.now() + timedelta(days=200)
    people.acme.save()
    server, _ = license_issue(
        organization=people.acme,
        kind=Kind.SERVER,
        actor=None,
        machine_name="old-srv",
        expires_on=timezone.now().date() + timedelta(days=3),
    )
    license_revoke(license_key=server, actor=None)
    license_issue(organization=people.acme, kind=Kind.FREE, actor=None)
    trial, _ = license_issue(organization=people.acme, kind=Kind.TRIAL, actor=None)  # 30 days
    assert expiry.scan(timezone.now()) == 0
    assert expiry.scan(trial.expires_at - timedelta(days=6)) == 1
    assert notices() == [("license.expiring-soon", f"{trial.expires_at:%Y-%m-%d}:7d")]


def test_another_hosts_notice_means_no_second_notice_and_no_second_event(people):
    WebhookEndpoint.objects.create(url="https://hooks.example.com/in", events=["*"], secret=new_secret())
    occasion = f"{people.acme.subscription_ends_at:%Y-%m-%d}:7d"
    Notice.objects.create(kind="subscription.expiring-soon", subject_id=str(people.acme.uuid), occasion=occasion)
    assert expiry.scan(timezone.now()) == 0
    assert not Event.objects.filter(type="subscription.expiring-soon").exists()
    due = expiry.Due(
        kind="subscription.expiring-soon",
        subject_id=str(people.acme.uuid),
        occasion=occasion,
        organization=people.acme,
        data={},
    )
    assert expiry.notice_create(due) is False  # the unique key refuses it: the event is rolled back with it
    assert not Event.objects.filter(type="subscription.expiring-soon").exists()


def test_an_endpoint_for_every_event_gets_a_delivery_of_the_warning(people):
    endpoint = WebhookEndpoint.objects.create(url="https://hooks.example.com/in", events=["*"], secret=new_secret())
    expiry.scan(timezone.now())
    delivery = Delivery.objects.get(event__type="subscription.expiring-soon")
    assert delivery.endpoint == endpoint and delivery.status == "pending"
    data = delivery.event.data
    assert data["slug"] == "acme" and data["days"] == 7 and data["state"] == "active"
    assert delivery.event.organization == people.acme


def test_the_scan_reads_in_bounded_queries_whatever_the_number_of_organizations(db):
    now = timezone.now()
    Organization.objects.bulk_create(
        Organization(name=f"Far {n}", slug=f"far-{n}", subscription_ends_at=now + timedelta(days=90))
        for n in range(300)
    )
    with CaptureQueriesContext(connection) as queries:
        assert expiry.scan(now) == 0
    assert len(queries) <= 4
    Organization.objects.filter(slug__in=["far-1", "far-2", "far-3"]).update(
        subscription_ends_at=now + timedelta(days=2)
    )
    expiry.scan(now)
    with CaptureQueriesContext(connection) as queries:
        assert expiry.scan(now) == 0  # all three written already: found in one query
    assert len(queries) <= 5

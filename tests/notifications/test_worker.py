"""The job worker as production runs it (``manage.py procrastinate worker``, PostgreSQL): a worker
killed in the middle of a delivery does not lose it (another worker makes it, with the same
``webhook-id``), and two workers never make one delivery twice."""

from __future__ import annotations

import signal
import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from notifications import delivery
from notifications.models import Delivery, WebhookEndpoint
from notifications.services import event_publish, new_secret
from organizations.models import Organization
from tests.conftest import command
from tests.support.servers import Receiver, job_worker

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

TIMEOUT = 2  # the workers' and this test's WEBHOOK_TIMEOUT_SECONDS: a claim's lease is 2 × 2 + 5 s
WORKER_ENV = {"WEBHOOK_ALLOW_PRIVATE_DESTINATIONS": "true", "WEBHOOK_TIMEOUT_SECONDS": str(TIMEOUT)}


@pytest.fixture
def local_receivers(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_DESTINATIONS = True
    settings.WEBHOOK_TIMEOUT_SECONDS = TIMEOUT


def _publish(organization, number: int = 1) -> list[int]:
    return [
        event_publish(event_type="organization.updated", organization=organization, data={"n": n}).deliveries.get().pk
        for n in range(number)
    ]


def _wait(predicate, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.2)


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_delivery_loses_nothing(local_receivers):
    organization = Organization.objects.get(slug=command("create_organization", "Initech")["slug"])
    release = threading.Event()
    with Receiver() as receiver:
        _hang_first(receiver, release)
        WebhookEndpoint.objects.create(url=receiver.url, events=["*"], secret=new_secret())
        (delivery_id,) = _publish(organization)
        with job_worker(env=WORKER_ENV) as first:
            receiver.wait_for(lambda got: len(got) == 1)
            first.send_signal(signal.SIGKILL)
            first.wait()
        release.set()
        item = Delivery.objects.get(pk=delivery_id)
        assert item.status == "pending" and item.attempts == 1  # claimed, never answered

        _wait(lambda: Delivery.objects.get(pk=delivery_id).next_attempt_at < timezone.now(), timeout=20)
        with job_worker(env=WORKER_ENV):
            # the minute's sweep, run by whichever worker takes it, once the claim's lease has run out
            delivery.sweep(timezone.now() + timedelta(seconds=delivery.lease_seconds()))
            received = receiver.wait_for(lambda got: len(got) == 2)
        assert received[0]["headers"]["webhook-id"] == received[1]["headers"]["webhook-id"]
        item.refresh_from_db()
        assert item.status == "succeeded" and item.attempts == 2


def _hang_first(receiver, release: threading.Event) -> None:
    """The receiver's first request waits for ``release`` (the worker is killed meanwhile)."""
    handler = receiver.server.RequestHandlerClass
    answer = handler.do_POST

    def first_hangs(self):
        if not receiver.received:
            receiver.received.append({"headers": dict(self.headers.items()), "body": b"", "hung": True})
            with receiver.arrived:
                receiver.arrived.notify_all()
            release.wait(30)
            return
        answer(self)

    handler.do_POST = first_hangs


@pytest.mark.django_db(transaction=True)
def test_the_next_worker_makes_a_killed_workers_delivery_by_itself(local_receivers):
    """No sweep called by the test: Procrastinate's stalled-job recovery runs the killed worker's job
    again (short heartbeat periods, tests/notifications/fast_worker_settings.py); the job meets the
    dead claim, defers itself to the lease's end, and delivers then with the same webhook-id."""
    env = {**WORKER_ENV, "DJANGO_SETTINGS_MODULE": "tests.notifications.fast_worker_settings"}
    organization = Organization.objects.get(slug=command("create_organization", "Initech")["slug"])
    release = threading.Event()
    with Receiver() as receiver:
        _hang_first(receiver, release)
        WebhookEndpoint.objects.create(url=receiver.url, events=["*"], secret=new_secret())
        (delivery_id,) = _publish(organization)
        with job_worker(env=env) as first:
            receiver.wait_for(lambda got: len(got) == 1)
            first.send_signal(signal.SIGKILL)
            first.wait()
        release.set()
        killed_at = time.monotonic()
        with job_worker(env=env):
            received = receiver.wait_for(lambda got: len(got) == 2, timeout=45)
        assert time.monotonic() - killed_at < delivery.lease_seconds() + 20  # the lease, not the sweep's minutes
    assert received[0]["headers"]["webhook-id"] == received[1]["headers"]["webhook-id"]
    _wait(lambda: Delivery.objects.get(pk=delivery_id).status == "succeeded", timeout=10)
    assert Delivery.objects.get(pk=delivery_id).attempts == 2


@pytest.mark.django_db(transaction=True)
def test_two_workers_make_each_delivery_once(local_receivers):
    organization = Organization.objects.get(slug=command("create_organization", "Initech")["slug"])
    with Receiver() as receiver:
        WebhookEndpoint.objects.create(url=receiver.url, events=["*"], secret=new_secret())
        with job_worker(env=WORKER_ENV), job_worker(env=WORKER_ENV):
            ids = _publish(organization, 20)
            delivery.sweep(timezone.now() + timedelta(minutes=5))  # a sweep racing the jobs
            received = receiver.wait_for(lambda got: len(got) >= 20)
            time.sleep(1)  # a duplicate would arrive now
        webhook_ids = [item["headers"]["webhook-id"] for item in receiver.received]
        assert len(webhook_ids) == len(set(webhook_ids)) == 20, received
        assert set(Delivery.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"succeeded"}

"""The embedded default's runner (``JOB_RUNNER=in_process``, SQLite): a change's webhook is
delivered by a thread of the web process once the change commits, and never for a change that
rolled back; the loop's sweep retries what failed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from notifications import jobs, tasks
from notifications.models import Delivery, WebhookEndpoint
from notifications.services import new_secret
from tests.conftest import command
from tests.support.servers import Receiver


@pytest.fixture
def in_process(settings):
    settings.JOB_RUNNER = "in_process"
    settings.JOB_RUNNER_IN_THREAD = True  # the runner's own thread, as scripts/serve runs it
    settings.JOB_RUNNER_LOOP = False  # the test runs the loop's work itself
    settings.WEBHOOK_ALLOW_PRIVATE_DESTINATIONS = True
    settings.WEBHOOK_TIMEOUT_SECONDS = 2


@pytest.mark.django_db(transaction=True)
def test_a_change_is_delivered_after_it_commits(in_process):
    with Receiver() as receiver:
        WebhookEndpoint.objects.create(url=receiver.url, events=["organization.created"], secret=new_secret())
        organization = command("create_organization", "Initech")
        received = receiver.wait_for(lambda got: len(got) == 1, timeout=20)
    assert b'"slug":"initech"' in received[0]["body"]
    jobs.wait_idle()
    assert Delivery.objects.get().status == "succeeded"
    assert organization["slug"] == "initech"


@pytest.mark.django_db(transaction=True)
def test_a_change_that_rolls_back_sends_nothing(in_process):
    from organizations.services import organization_create

    with Receiver() as receiver:
        WebhookEndpoint.objects.create(url=receiver.url, events=["*"], secret=new_secret())
        with pytest.raises(RuntimeError), transaction.atomic():
            organization_create(actor=None, name="Initech")
            raise RuntimeError("the change fails after its audit event")
        jobs.wait_idle()
        assert receiver.received == [] and not Delivery.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_loop_retries_a_failed_delivery_when_it_is_due(in_process):
    with Receiver(status=500) as receiver:
        WebhookEndpoint.objects.create(url=receiver.url, events=["*"], secret=new_secret())
        command("create_organization", "Initech")
        receiver.wait_for(lambda got: len(got) == 1, timeout=20)
        jobs.wait_idle()
        assert Delivery.objects.get().status == "retrying"
        receiver.status = 200
        Delivery.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))  # its retry is due
        tasks.periodic_in_process()
        receiver.wait_for(lambda got: len(got) == 2, timeout=20)
        jobs.wait_idle()
    assert Delivery.objects.get().status == "succeeded"

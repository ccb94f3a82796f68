"""A key's history rows take their time after the key's lock: in commit order, never before a row
committed ahead of them."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction
from django.utils import timezone

from licenses.models import ActivationEvent, LicenseKey
from tests.conftest import Agent

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("endpoint", ["activate", "deactivate"])
def test_a_call_that_waited_for_the_key_writes_a_later_time_than_the_holder(machine_key, endpoint):
    agent = Agent()
    if endpoint == "deactivate":
        assert agent.activate(machine_key["key"])["code"] == "VALID"
    license_key = LicenseKey.objects.get(public_id=machine_key["id"])
    locked, release = threading.Event(), threading.Event()

    def holder():
        with transaction.atomic():
            LicenseKey.objects.select_for_update().get(pk=license_key.pk)
            locked.set()
            release.wait(10)
            ActivationEvent.objects.create(license=license_key, event="revoke", created_at=timezone.now())
        connection.close()

    thread = threading.Thread(target=holder)
    thread.start()
    locked.wait(10)
    answered = {}
    caller = threading.Thread(target=lambda: answered.update(verdict=agent.verdict(endpoint, machine_key["key"])))
    caller.start()
    time.sleep(0.5)  # the call is waiting for the key's lock now
    release.set()
    thread.join(10)
    caller.join(10)
    assert answered["verdict"]["code"] in ("VALID", "DEACTIVATED")
    times = list(ActivationEvent.objects.filter(license=license_key).order_by("id").values_list("event", "created_at"))
    holder_time = next(moment for event, moment in times if event == "revoke")
    caller_time = times[-1][1]
    assert times[-1][0] != "revoke"
    assert caller_time >= holder_time, times

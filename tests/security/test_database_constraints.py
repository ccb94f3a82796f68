"""Invariants the database itself holds, so that no crash or stray write can break them."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from environments.models import Machine
from licenses.models import LicenseKey
from tests.conftest import Agent

pytestmark = pytest.mark.django_db


def refused(**changes) -> bool:
    try:
        with transaction.atomic():
            LicenseKey.objects.filter(pk=LicenseKey.objects.get().pk).update(**changes)
    except IntegrityError:
        return True
    return False


def test_a_key_is_never_half_bound(machine_key):
    Agent().activate(machine_key["key"])
    assert refused(bound_at=None)  # a machine without a binding time
    assert refused(machine=None)  # a binding time without a machine
    assert not refused(machine=None, bound_at=None)  # a whole release is fine


def test_a_revoked_key_holds_no_machine_and_has_a_time(machine_key):
    Agent().activate(machine_key["key"])
    assert refused(status="revoked", revoked_at=timezone.now())  # still bound
    assert refused(status="revoked", machine=None, bound_at=None)  # no revocation time


def test_a_temporary_key_is_never_bound(temporary_key, machine_key):
    Agent().activate(machine_key["key"])
    machine = Machine.objects.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        LicenseKey.objects.filter(public_id=temporary_key["id"]).update(machine=machine, bound_at=timezone.now())


def test_a_machine_bound_to_an_organization_has_a_binding_time(machine_key):
    Agent().activate(machine_key["key"])
    with pytest.raises(IntegrityError), transaction.atomic():
        Machine.objects.update(bound_at=None)


def test_one_machine_uid_is_one_row(machine_key):
    Agent().activate(machine_key["key"])
    machine = Machine.objects.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        Machine.objects.create(uid=machine.uid, first_seen_at=timezone.now(), last_seen_at=timezone.now())

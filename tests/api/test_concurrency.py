"""Races that only a real database shows: run on PostgreSQL (CI), skipped on SQLite."""

from __future__ import annotations

import json
import threading

import pytest
from django.db import connection
from django.test import Client

from licenses.models import ActivationEvent, LicenseKey
from tests.conftest import FINGERPRINT, command

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def race(count: int, work) -> list:
    results, barrier = [None] * count, threading.Barrier(count)

    def run(index):
        try:
            barrier.wait()
            results[index] = work(index)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_concurrent_activations_of_one_free_key_bind_exactly_one():
    org = command("create_organization", "Race")
    command("create_environment", org["id"], "Production")
    key = command("issue_key", org["id"], "--kind", "machine", "--environment", "Production")

    def activate(index):
        fingerprint = {**FINGERPRINT, "hostname": f"host-{index}"}
        body = json.dumps({"license_key": key["key"], "fingerprint": fingerprint})
        response = Client().post("/api/v1/activate", body, content_type="application/json").json()
        return response.get("code", response)

    codes = race(12, activate)
    assert codes.count("VALID") == 1, codes
    assert codes.count("FINGERPRINT_MISMATCH") == 11, codes
    license_key = LicenseKey.objects.get(public_id=key["id"])
    assert license_key.machine is not None
    assert ActivationEvent.objects.filter(license=license_key, event="activate").count() == 1


def test_concurrent_first_activations_on_one_new_machine_bind_it_to_one_organization():
    keys = []
    for name in ("Org A", "Org B"):
        org = command("create_organization", name)
        command("create_environment", org["id"], "Production")
        keys.append(command("issue_key", org["id"], "--kind", "machine", "--environment", "Production")["key"])

    def activate(index):
        body = json.dumps({"license_key": keys[index % 2], "fingerprint": FINGERPRINT})
        response = Client().post("/api/v1/activate", body, content_type="application/json").json()
        return response.get("code", response)

    codes = race(6, activate)
    assert sorted(set(codes)) == ["ORGANIZATION_MISMATCH", "VALID"], codes
    assert LicenseKey.objects.filter(machine__isnull=False).count() == 1

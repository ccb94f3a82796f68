"""A gunicorn worker killed mid-request loses no committed activation or audit event and
never leaves a key half-bound: each activation commits whole, or not at all."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request

import pytest

from audit.models import AuditEvent
from licenses.models import ActivationEvent, LicenseKey
from tests.conftest import FINGERPRINT, command
from tests.support.servers import gunicorn, worker_pids

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def server():
    with gunicorn(workers=2, env={"API_RATE_LIMIT_PER_IP": "100000", "API_RATE_LIMIT_PER_KEY": "1000"}) as running:
        yield running


def test_killed_workers_leave_every_activation_whole(server):
    process, url = server
    org = command("create_organization", "Killtest")
    command("create_environment", org["id"], "Production")
    keys = [command("issue_key", org["id"], "--kind", "machine", "--environment", "Production") for _ in range(60)]
    answers: dict[str, str] = {}

    def activate(index: int, key: dict) -> None:
        body = json.dumps({"license_key": key["key"], "fingerprint": {**FINGERPRINT, "hostname": f"host-{index}"}})
        request = urllib.request.Request(
            f"{url}/api/v1/activate", body.encode(), {"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                answers[key["id"]] = json.loads(response.read())["code"]
        except (urllib.error.URLError, ConnectionError, OSError):
            answers[key["id"]] = "connection lost"

    stop = threading.Event()

    def killer() -> None:
        while not stop.is_set():
            for pid in worker_pids(process.pid)[:1]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.6)  # workers need a moment to boot and take requests

    threading.Thread(target=killer, daemon=True).start()
    threads = [threading.Thread(target=activate, args=(index, key)) for index, key in enumerate(keys)]
    for thread in threads:
        thread.start()
        time.sleep(0.05)
    for thread in threads:
        thread.join()
    stop.set()

    assert set(answers.values()) <= {"VALID", "connection lost"}
    assert "VALID" in answers.values()
    for key in keys:
        license_key = LicenseKey.objects.get(public_id=key["id"])
        history = ActivationEvent.objects.filter(license=license_key, event="activate").count()
        audited = AuditEvent.objects.filter(action="license.activate", object_id=key["id"]).count()
        if answers[key["id"]] == "VALID":
            assert license_key.machine_id is not None, "a confirmed activation was lost"
        # Whole or nothing: a binding, its history and its audit event commit together.
        assert (license_key.machine_id is not None, history, audited) in {(True, 1, 1), (False, 0, 0)}

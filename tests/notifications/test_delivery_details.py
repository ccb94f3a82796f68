"""Details of one delivery attempt: the answer's excerpt whatever its bytes, the connection made to
the address that was checked (no second DNS answer), an unpadded secret, and a job that meets a
claim (a running attempt, or a killed worker's) coming back when its lease ends."""

from __future__ import annotations

import base64
import http.server
import socket
import threading
from datetime import timedelta

import pytest
from django.utils import timezone
from standardwebhooks import Webhook

from notifications import delivery, signing
from notifications.models import Delivery, WebhookEndpoint
from notifications.services import event_publish, new_secret
from tests.support.servers import Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _local_receivers(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_DESTINATIONS = True
    settings.WEBHOOK_TIMEOUT_SECONDS = 2


def _delivery_to(url: str) -> Delivery:
    WebhookEndpoint.objects.create(url=url, events=["*"], secret=new_secret())
    return event_publish(event_type="organization.updated", organization=None, data={"n": 1}).deliveries.get()


class _Answering:
    """A receiver that answers every POST with ``status`` and the bytes ``body``."""

    def __init__(self, status: int, body: bytes):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_the_answer_is_kept_as_500_characters_of_whatever_bytes_came():
    with _Answering(502, b"\xff\xfe" + "é".encode() * 3000) as receiver:
        item = _delivery_to(receiver.url)
        delivery.attempt(item.pk)
    item.refresh_from_db()
    assert item.status == "retrying" and item.response_status == 502
    assert len(item.response_excerpt) == 500 and item.response_excerpt.startswith("\ufffd\ufffdéé")


def test_the_connection_goes_to_the_address_that_was_checked(monkeypatch):
    """The name resolves to the receiver once, then (a re-binding DNS) elsewhere: the attempt still
    reaches the receiver, asking for the name in its Host header."""
    real = socket.getaddrinfo
    answers = []

    def rebinding(host, port, *args, **kwargs):
        if host != "hooks.example.test":
            return real(host, port, *args, **kwargs)
        answers.append(host)
        return real("127.0.0.1" if len(answers) == 1 else "10.255.255.1", port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with Receiver() as receiver:
        port = receiver.server.server_address[1]
        item = _delivery_to(f"http://hooks.example.test:{port}/hooks")
        delivery.attempt(item.pk)
        (sent,) = receiver.received
    assert sent["headers"]["Host"] == f"hooks.example.test:{port}" and len(answers) == 1
    item.refresh_from_db()
    assert item.status == "succeeded"


def test_a_secret_without_its_padding_signs_as_the_standardwebhooks_library_reads_it():
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode().rstrip("=")
    body = b'{"type":"organization.updated"}'
    headers = signing.headers(secret=secret, webhook_id="msg_1", timestamp=int(timezone.now().timestamp()), body=body)
    assert Webhook(secret).verify(body, headers) == {"type": "organization.updated"}


def _claimed_by_a_dead_worker(item: Delivery) -> None:
    now = timezone.now()
    Delivery.objects.filter(pk=item.pk).update(
        attempts=1, last_attempt_at=now, duration_ms=None, next_attempt_at=now + timedelta(seconds=9)
    )


@pytest.mark.postgres
def test_a_job_meeting_a_claim_comes_back_when_its_lease_ends():
    from procrastinate.contrib.django.models import ProcrastinateJob

    with Receiver() as receiver:
        item = _delivery_to(receiver.url)
        _claimed_by_a_dead_worker(item)
        delivery.attempt(item.pk)  # the killed worker's job, run again by the stalled-job recovery
        assert receiver.received == []
    lease_end = Delivery.objects.get(pk=item.pk).next_attempt_at
    later = [
        job.scheduled_at
        for job in ProcrastinateJob.objects.filter(task_name="notifications.deliver", args={"delivery_id": item.pk})
        if job.scheduled_at is not None
    ]
    assert len(later) == 1 and timedelta(0) <= later[0] - lease_end <= timedelta(seconds=2)


@pytest.mark.postgres
def test_a_job_meeting_a_scheduled_retry_leaves_it_to_its_own_job():
    from procrastinate.contrib.django.models import ProcrastinateJob

    with Receiver(status=500) as receiver:
        item = _delivery_to(receiver.url)
        delivery.attempt(item.pk)  # fails: its retry is a job of its own
        delivery.attempt(item.pk)  # a second job (a sweep's) before the retry is due
        assert len(receiver.received) == 1
    scheduled = ProcrastinateJob.objects.filter(
        task_name="notifications.deliver", args={"delivery_id": item.pk}, scheduled_at__isnull=False
    )
    assert scheduled.count() == 1

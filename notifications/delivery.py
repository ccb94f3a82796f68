"""Attempting webhook deliveries (Standard Webhooks), their retries, and the sweep.

One attempt (``attempt``): the delivery's row is claimed in a short transaction (locked with
``SKIP LOCKED``, its attempt counted, ``next_attempt_at`` pushed a lease ahead), then the POST is
made outside any transaction, then the outcome is written. Two workers never attempt one delivery
at once; a worker that dies mid-attempt leaves the claim to run out: its job, run again by
Procrastinate's stalled-job recovery (``tasks.stalled_jobs_retry``), defers itself to the lease's
end and makes the attempt then; and the sweep defers every delivery left due. A second job meeting a running claim
does the same, and finds the delivery done. Deliveries are at least once, and every attempt of an
event carries the same ``webhook-id``.

The body is the same bytes on every attempt: ``{"type", "timestamp" (the event's time), "data"}``.

Outcomes:

- 2xx: delivered; the endpoint's failure streak ends.
- 410 Gone: the receiver asks to stop: the endpoint is disabled (``endpoint_disable``).
- Anything else, a timeout (``WEBHOOK_TIMEOUT_SECONDS``) or a refused connection: tried again
  after ``RETRY_SECONDS[n]``, each with ±20 % jitter: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h,
  20 h, 24 h, about 3 days and 3 hours in all, then failed. An endpoint that has failed every attempt
  for ``DISABLE_AFTER`` (5 days) is disabled.

Destinations: a URL whose host resolves to an address that is not globally routable (private,
loopback, link-local, shared, reserved, multicast, IPv4-mapped forms of them) is refused unless
``WEBHOOK_ALLOW_PRIVATE_DESTINATIONS``; the connection is made to the address that was checked, so
a second DNS answer cannot point it elsewhere. Redirects are not followed.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import logging
import random
import socket
import ssl
import time
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from audit.services import audit_record
from core.time import rfc3339
from notifications import jobs, signing
from notifications.models import Delivery, WebhookEndpoint

logger = logging.getLogger(__name__)

RETRY_SECONDS = [5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400]
JITTER = 0.2
DISABLE_AFTER = timedelta(days=5)
EXCERPT = 500
SYSTEM = "system (webhooks)"
USER_AGENT = "licensing-portal-webhooks/1"
SWEEP_BATCH = 500


def lease_seconds() -> float:
    """How long a claimed attempt keeps others off its delivery: twice the request's time-out (a
    slow answer, then writing the outcome) and a margin."""
    return 2 * settings.WEBHOOK_TIMEOUT_SECONDS + 5


def retry_delay(attempts: int, rng: random.Random | None = None) -> float | None:
    """Seconds to wait after the ``attempts``-th failed attempt, jittered; None when it was the last."""
    if attempts > len(RETRY_SECONDS):
        return None
    base = RETRY_SECONDS[attempts - 1]
    return base * (1 + (rng or random).uniform(-JITTER, JITTER))


def body_of(event) -> bytes:
    payload = {"type": event.type, "timestamp": rfc3339(event.created_at), "data": event.data}
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


# Destinations --------------------------------------------------------------------------------------


def _address_allowed(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _resolve(url: str) -> tuple[str, int, list[str]]:
    """(host, port, addresses) of ``url``; ValueError with a reason a person can act on."""
    parts = urlsplit(url)
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        raise ValueError("The URL must start with https:// and name a host.")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        found = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise ValueError(f"The host {parts.hostname} cannot be resolved ({error}).") from error
    addresses = list(dict.fromkeys(info[4][0] for info in found))
    if not settings.WEBHOOK_ALLOW_PRIVATE_DESTINATIONS:
        refused = [address for address in addresses if not _address_allowed(address)]
        if refused:
            raise ValueError(
                f"The host {parts.hostname} resolves to {refused[0]}, a private, loopback or link-local "
                "address; webhooks go to public addresses only (WEBHOOK_ALLOW_PRIVATE_DESTINATIONS)."
            )
    return parts.hostname, port, addresses


def destination_check(url: str) -> str | None:
    """Why ``url`` cannot receive webhooks, or None if it can (for the forms and the API)."""
    try:
        _resolve(url)
    except ValueError as error:
        return str(error)
    return None


class _Pinned:
    """An ``http.client`` connection to an address already checked, speaking to its host by name."""

    address: str

    def connect(self):
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTP(_Pinned, http.client.HTTPConnection):
    pass


class _PinnedHTTPS(_Pinned, http.client.HTTPSConnection):
    def connect(self):
        super().connect()
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self.host)


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    """POST ``body``; (status, excerpt of the answer). Raises OSError or ValueError on failure."""
    host, port, addresses = _resolve(url)
    parts = urlsplit(url)
    timeout = settings.WEBHOOK_TIMEOUT_SECONDS
    if parts.scheme == "https":
        connection = _PinnedHTTPS(host, port, timeout=timeout, context=ssl.create_default_context())
    else:
        connection = _PinnedHTTP(host, port, timeout=timeout)
    connection.address = addresses[0]
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        excerpt = response.read(4096).decode("utf-8", errors="replace")[:EXCERPT]
        return response.status, excerpt
    finally:
        connection.close()


# Attempts ------------------------------------------------------------------------------------------


def _claim(delivery_id: int, now: datetime) -> Delivery | None:
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("event", "endpoint")
            .filter(pk=delivery_id, status__in=[Delivery.Status.PENDING, Delivery.Status.RETRYING])
            .first()
        )
        if delivery is None:
            return None  # done, gone, or another worker holds it
        if delivery.next_attempt_at is not None and delivery.next_attempt_at > now + timedelta(seconds=1):
            if _claim_running(delivery):
                # Claimed by an attempt still running, or by a worker that died (this job may be its
                # job, run again by Procrastinate's stalled-job recovery): look again when the lease
                # ends, when the delivery is done, scheduled, or free to claim.
                jobs.delivery_defer(delivery.pk, delay_seconds=(delivery.next_attempt_at - now).total_seconds() + 1)
            return None  # not due: a second job for it (the sweep's, a re-send's) or its claim still runs
        if not delivery.endpoint.enabled:
            delivery.status, delivery.error = Delivery.Status.FAILED, "The endpoint is disabled."
            delivery.save(update_fields=["status", "error"])
            return None
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.next_attempt_at = now + timedelta(seconds=lease_seconds())
        delivery.duration_ms = None  # the claim's mark: no outcome recorded yet
        delivery.save(update_fields=["attempts", "last_attempt_at", "next_attempt_at", "duration_ms"])
        return delivery


def _claim_running(delivery: Delivery) -> bool:
    """Whether ``next_attempt_at`` is a claim's lease (an attempt without its outcome) rather than a
    scheduled retry."""
    return delivery.last_attempt_at is not None and delivery.duration_ms is None


def attempt(delivery_id: int) -> None:
    """Make one attempt of the delivery ``delivery_id`` if it is due and not done."""
    now = timezone.now()
    delivery = _claim(delivery_id, now)
    if delivery is None:
        return
    body = body_of(delivery.event)
    headers = {
        **signing.headers(
            secret=delivery.endpoint.secret,
            webhook_id=delivery.event.webhook_id,
            timestamp=int(time.time()),
            body=body,
        ),
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }
    started = time.monotonic()
    status, excerpt, error = None, "", ""
    try:
        status, excerpt = _post(delivery.endpoint.url, body, headers)
    except (OSError, ValueError, http.client.HTTPException) as failure:
        error = f"{type(failure).__name__}: {failure}"[:300]
    duration_ms = int((time.monotonic() - started) * 1000)
    _record(delivery, status=status, excerpt=excerpt, error=error, duration_ms=duration_ms, now=timezone.now())


def _record(delivery: Delivery, *, status, excerpt, error, duration_ms, now) -> None:
    endpoint = delivery.endpoint
    delivery.response_status, delivery.response_excerpt = status, excerpt
    delivery.error, delivery.duration_ms = error, duration_ms
    disable_reason = ""
    with transaction.atomic():
        if status is not None and 200 <= status < 300:
            delivery.status, delivery.next_attempt_at = Delivery.Status.SUCCEEDED, None
            WebhookEndpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=False).update(failing_since=None)
        elif status == 410:
            delivery.status, delivery.next_attempt_at = Delivery.Status.FAILED, None
            disable_reason = "The receiver answered 410 Gone."
        else:
            delay = retry_delay(delivery.attempts)
            if delay is None:
                delivery.status, delivery.next_attempt_at = Delivery.Status.FAILED, None
            else:
                delivery.status = Delivery.Status.RETRYING
                delivery.next_attempt_at = now + timedelta(seconds=delay)
                jobs.delivery_defer(delivery.pk, delay_seconds=delay)
            WebhookEndpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=True).update(failing_since=now)
            failing_since = WebhookEndpoint.objects.values_list("failing_since", flat=True).get(pk=endpoint.pk)
            if failing_since is not None and now - failing_since >= DISABLE_AFTER:
                disable_reason = "Every delivery failed for 5 days."
        delivery.save(
            update_fields=[
                "status",
                "next_attempt_at",
                "response_status",
                "response_excerpt",
                "error",
                "duration_ms",
            ]
        )
    if disable_reason:
        endpoint_disable(endpoint, disable_reason)


def endpoint_disable(endpoint: WebhookEndpoint, reason: str) -> None:
    """The portal stops delivering to ``endpoint`` (410, or 5 days of failures): audited, its
    waiting deliveries failed, its creator told by e-mail (``mail.audit_event_mailed`` reads the audit event)."""
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        if not endpoint.enabled:
            return
        endpoint.enabled, endpoint.disabled_reason = False, reason
        endpoint.save(update_fields=["enabled", "disabled_reason", "updated_at"])
        endpoint.deliveries.filter(status__in=[Delivery.Status.PENDING, Delivery.Status.RETRYING]).update(
            status=Delivery.Status.FAILED, error="The endpoint was disabled.", next_attempt_at=None
        )
        audit_record(
            actor=SYSTEM,
            action="webhook.disable",
            organization=endpoint.organization,
            obj=endpoint,
            before={"enabled": True},
            after={"enabled": False, "reason": reason},
        )


# The sweep -----------------------------------------------------------------------------------------


def sweep(now: datetime) -> int:
    """Defer again every delivery that is due and has no job running it: a job lost with a killed
    worker, a claim that ran out, or (in-process) a retry whose time has come. Returns how many."""
    grace = timedelta(seconds=lease_seconds() if settings.JOB_RUNNER == "procrastinate" else 0)
    due = (
        Delivery.objects.filter(status__in=[Delivery.Status.PENDING, Delivery.Status.RETRYING])
        .annotate(due_at=Coalesce("next_attempt_at", "created_at"))
        .filter(Q(due_at__lte=now - grace), endpoint__enabled=True)
        .order_by("due_at")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    found = list(due)
    for delivery_id in found:
        jobs.delivery_defer(delivery_id)
    return len(found)

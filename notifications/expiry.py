"""The expiry scan: subscriptions and keys ending soon or ended: ``scan(now)``.

Each warning is due once per end: 30, 7 and 1 days before it, and when it has passed. A scan
sends only the nearest warning due (a subscription first seen 5 days before its end gets the
7-day one, not three), and a warning whose moment came before the object began is skipped (a
30-day trial key gets no 30-day warning on the day it is issued). For each, in one transaction: a
``Notice`` (its unique key is the guard: another host's scan, or this one run again after a
restart, finds it and writes nothing), the catalogue's event, and the job that mails the notice.
The occasion names the end's date, so a renewed subscription or a server key given a new date
gets notices of its own.

The queries are range filters on the end (indexed), read in batches: the scan's cost follows the
number of objects near their end, not the number of organizations.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import IntegrityError, transaction

from integrations import representations
from licenses.models import Kind, LicenseKey
from notifications import jobs
from notifications.models import Notice
from notifications.services import event_publish
from organizations.models import Edition, Organization

logger = logging.getLogger(__name__)

THRESHOLDS_DAYS = (1, 7, 30)  # ascending: the nearest due is the first that the time left fits in
# An end older than this gets no "expired" notice: the first scan after an upgrade does not mail
# every lapse of the past, and a scan that stopped for a few days still catches up.
EXPIRED_LOOKBACK = timedelta(days=7)
BATCH = 500
KEY_KINDS = (Kind.SERVER, Kind.TRIAL)  # the keys with an end of their own (temporary keys live hours)


@dataclass(frozen=True)
class Due:
    kind: str  # a Notice.Kind, which is also the event's type
    subject_id: str
    occasion: str
    organization: Organization
    data: dict


def warning_days(*, ends: datetime, starts: datetime, now: datetime) -> int | None:
    """The warning due at ``now`` for an end: 0 (ended), 1, 7 or 30 (days before), or None."""
    left = ends - now
    if left <= timedelta(0):
        return 0
    for days in THRESHOLDS_DAYS:
        if left <= timedelta(days=days):
            return days if ends - timedelta(days=days) > starts else None
    return None


def occasion_for(ends: datetime, days: int) -> str:
    """``2027-01-15:7d`` or ``2027-01-15:expired`` (the end's date, UTC)."""
    return f"{ends.astimezone(UTC):%Y-%m-%d}:" + (f"{days}d" if days else "expired")


def scan(now: datetime) -> int:
    """Publish the expiring-soon and expired events and their notices that are due; returns how many."""
    created = 0
    for batch in _batches(_subscriptions_due(now)):
        created += _notify_new(batch)
    for batch in _batches(_keys_due(now)):
        created += _notify_new(batch)
    if created:
        logger.info("expiry scan: %d notices", created)
    return created


def _window(now: datetime) -> dict:
    return {"gt": now - EXPIRED_LOOKBACK, "lte": now + timedelta(days=THRESHOLDS_DAYS[-1])}


def _subscriptions_due(now: datetime):
    """Organizations near or just past their subscription's end. A free edition's subscription
    never ends for its keys (free-edition keys ignore it), so it gets no warning."""
    window = _window(now)
    organizations = (
        Organization.objects.exclude(edition=Edition.FREE)
        .filter(subscription_ends_at__gt=window["gt"], subscription_ends_at__lte=window["lte"])
        .order_by("pk")
    )
    for organization in organizations.iterator(chunk_size=BATCH):
        ends = organization.subscription_ends_at
        days = warning_days(ends=ends, starts=organization.subscription_starts_at, now=now)
        if days is None:
            continue
        yield Due(
            kind=Notice.Kind.SUBSCRIPTION_EXPIRING if days else Notice.Kind.SUBSCRIPTION_EXPIRED,
            subject_id=str(organization.uuid),
            occasion=occasion_for(ends, days),
            organization=organization,
            data={**representations.organization(organization, now), "days": days},
        )


def _keys_due(now: datetime):
    """Server and trial keys near or just past their own end; never a revoked or deleted one."""
    window = _window(now)
    keys = (
        LicenseKey.objects.filter(
            kind__in=KEY_KINDS, deleted_at__isnull=True, expires_at__gt=window["gt"], expires_at__lte=window["lte"]
        )
        .exclude(status=LicenseKey.Status.REVOKED)
        .select_related("organization", "environment", "machine")
        .order_by("pk")
    )
    for key in keys.iterator(chunk_size=BATCH):
        days = warning_days(ends=key.expires_at, starts=key.issued_at, now=now)
        if days is None:
            continue
        yield Due(
            kind=Notice.Kind.LICENSE_EXPIRING if days else Notice.Kind.LICENSE_EXPIRED,
            subject_id=str(key.public_id),
            occasion=occasion_for(key.expires_at, days),
            organization=key.organization,
            data={**representations.license_key(key, now), "days": days},
        )


def _batches(items, size: int = BATCH):
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _notify_new(batch: list[Due]) -> int:
    """Write the notices of ``batch`` that no scan wrote yet (one query finds those that exist)."""
    existing = set(
        Notice.objects.filter(subject_id__in={due.subject_id for due in batch}).values_list(
            "kind", "subject_id", "occasion"
        )
    )
    return sum(notice_create(due) for due in batch if (due.kind, due.subject_id, due.occasion) not in existing)


def notice_create(due: Due) -> bool:
    """The notice, its event and its mail job, together or not at all: False if the notice exists
    (another host's scan wrote it first)."""
    try:
        with transaction.atomic():
            notice = Notice.objects.create(
                kind=due.kind, subject_id=due.subject_id, occasion=due.occasion, organization=due.organization
            )
            event_publish(event_type=due.kind, organization=due.organization, data=due.data)
            jobs.defer("notice_send", notice_id=notice.pk)
    except IntegrityError:
        return False
    return True

"""The background tasks: Procrastinate's on PostgreSQL (autodiscovered by its Django app), called
as plain functions by the in-process runner (``notifications.jobs``). Each is a line: the work is
in ``delivery``, ``mail`` and ``expiry``."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone
from procrastinate.contrib.django import app

from notifications import delivery, expiry, mail


@app.task(name="notifications.deliver", queue="notifications")
def deliver(delivery_id: int) -> None:
    delivery.attempt(delivery_id)


@app.task(name="notifications.notice_send", queue="notifications")
def notice_send(notice_id: int) -> None:
    mail.notice_send(notice_id)


@app.periodic(cron="* * * * *", periodic_id="deliveries_sweep")
@app.task(name="notifications.deliveries_sweep", queue="notifications", queueing_lock="deliveries_sweep")
def deliveries_sweep(timestamp: int) -> None:
    delivery.sweep(timezone.now())
    mail.sweep(timezone.now())


def _stalled_worker_timeout() -> float:
    """Seconds without a heartbeat after which a worker is dead: the workers' own option
    (``PROCRASTINATE_WORKER_DEFAULTS``, Procrastinate's default 30 s)."""
    return float((getattr(settings, "PROCRASTINATE_WORKER_DEFAULTS", None) or {}).get("stalled_worker_timeout", 30))


@app.periodic(cron=getattr(settings, "JOB_STALLED_RETRY_CRON", "*/5 * * * *"), periodic_id="stalled_jobs_retry")
@app.task(name="notifications.stalled_jobs_retry", queue="notifications", queueing_lock="stalled_jobs_retry")
async def stalled_jobs_retry(timestamp: int) -> None:
    """Jobs of a worker that stopped heartbeating (killed mid-job) run again elsewhere."""
    for job in await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=_stalled_worker_timeout()):
        await app.job_manager.retry_job(job)


@app.periodic(cron="*/15 * * * *", periodic_id="expiry_scan")
@app.task(name="notifications.expiry_scan", queue="notifications", queueing_lock="expiry_scan")
def expiry_scan(timestamp: int) -> None:
    expiry.scan(timezone.now())


def periodic_in_process() -> None:
    """The in-process runner's loop (every ``jobs.SWEEP_SECONDS``): the periodic tasks' work."""
    now = timezone.now()
    delivery.sweep(now)
    mail.sweep(now)
    expiry.scan(now)

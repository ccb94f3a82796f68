"""The background tasks: Procrastinate's on PostgreSQL (autodiscovered by its Django app), plain
functions for the in-process runner (``notifications.jobs``)."""

from __future__ import annotations

from django.utils import timezone
from procrastinate.contrib.django import app

from notifications import delivery


@app.task(name="notifications.deliver", queue="webhooks", pass_context=False)
def deliver(delivery_id: int) -> None:
    delivery.attempt(delivery_id)


@app.periodic(cron="* * * * *", periodic_id="deliveries_sweep")
@app.task(name="notifications.deliveries_sweep", queue="webhooks", queueing_lock="deliveries_sweep")
def deliveries_sweep(timestamp: int) -> None:
    delivery.sweep(timezone.now())


def periodic_in_process() -> None:
    """The in-process runner's loop: what the periodic tasks do on PostgreSQL."""
    delivery.sweep(timezone.now(), run=True)

"""The expiry scan: subscriptions and keys ending soon or ended: ``scan(now)``."""

from __future__ import annotations


def scan(now) -> None:
    """Publish the expiring-soon and expired events and their notices that are due."""

"""The expiry scan: subscriptions and keys ending soon or ended. To be written: ``scan(now)``."""

from __future__ import annotations


def scan(now) -> None:
    raise NotImplementedError

"""Attempting webhook deliveries (Standard Webhooks), their retries, and the sweep.

To be written: ``attempt(delivery_id)`` and ``sweep(now, run=False)``.
"""

from __future__ import annotations


def attempt(delivery_id: int) -> None:
    raise NotImplementedError


def sweep(now, run: bool = False) -> None:
    raise NotImplementedError

"""Attempting webhook deliveries (Standard Webhooks), their retries, and the sweep. To be written:
``attempt(delivery_id)``, ``sweep(now)``."""

from __future__ import annotations


def attempt(delivery_id: int) -> None:
    raise NotImplementedError


def sweep(now) -> None:
    raise NotImplementedError

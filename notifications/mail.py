"""E-mail notices, each sent once (``Notice``): ``notice_send(notice_id)``, ``sweep(now)``."""

from __future__ import annotations


def notice_send(notice_id: int) -> None:
    """Send the notice ``notice_id`` (none exist until the expiry scan writes them)."""


def sweep(now) -> None:
    """Send again the notices a failure left unsent."""

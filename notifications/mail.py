"""E-mail notices, each sent once (``Notice``). To be written: ``notice_send(notice_id)``,
``sweep(now)``."""

from __future__ import annotations


def notice_send(notice_id: int) -> None:
    raise NotImplementedError


def sweep(now) -> None:
    raise NotImplementedError

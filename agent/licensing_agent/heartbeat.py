"""``Heartbeat``: validate on an interval in a background thread; call back when the license is lost.

The protocol's "an agent logs its user out when a verdict turns invalid (a temporary key's TTL
ends, say)". ``on_invalid`` is called on each change from licensed to not licensed (and at the
first beat if that one is not licensed); ``on_status`` after every beat. Without a trusted
answer the offline rules decide, so a lost connection alone does not log anyone out while a
token holds.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Self

from .agent import Agent
from .results import Status

logger = logging.getLogger(__name__)


class Heartbeat:
    """Call ``agent.validate()`` every ``interval`` seconds until ``stop()``.

    Use as a context manager, or ``start()`` / ``stop()``. Callbacks run in the heartbeat's
    thread; an exception in one is logged and the heartbeat goes on.
    """

    def __init__(
        self,
        agent: Agent,
        *,
        interval: float = 300.0,
        on_invalid: Callable[[Status], None],
        on_status: Callable[[Status], None] | None = None,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        if interval <= 0:
            raise ValueError("the heartbeat interval must be positive")
        self.agent = agent
        self.interval = interval
        self.on_invalid = on_invalid
        self.on_status = on_status
        self.on_error = on_error
        self.last_status: Status | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        if self._thread is not None and self._thread.is_alive():
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="licensing-heartbeat", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 10.0) -> None:
        """Ask the thread to stop and wait for it (a beat in progress ends after its HTTP timeout)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def beat(self) -> Status | None:
        """One validation, with the callbacks (the thread calls this; tests may too)."""
        try:
            status = self.agent.validate()
        except Exception as error:  # noqa: BLE001 - the heartbeat must outlive a bad beat
            logger.warning("licensing heartbeat failed: %s", error)
            self._call(self.on_error, error)
            return None
        was_licensed = self.last_status.licensed if self.last_status is not None else True
        self.last_status = status
        for warning in status.warnings:
            logger.warning("licensing: %s", warning)
        self._call(self.on_status, status)
        if was_licensed and not status.licensed:
            logger.warning("licensing: no longer licensed (%s): %s", status.code, status.detail)
            self._call(self.on_invalid, status)
        return status

    def _run(self) -> None:
        while not self._stop.is_set():
            self.beat()
            self._stop.wait(self.interval)

    @staticmethod
    def _call(callback: Callable | None, argument: object) -> None:
        if callback is None:
            return
        try:
            callback(argument)
        except Exception:  # a product's callback must not stop the heartbeat
            logger.exception("licensing heartbeat callback failed")

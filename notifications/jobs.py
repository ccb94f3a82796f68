"""How background work runs: one way to defer a task, two runners (``settings.JOB_RUNNER``).

- ``procrastinate`` (PostgreSQL): a job is a row of Procrastinate's queue, written through Django's
  connection, so it commits or rolls back with the change that caused it. ``manage.py procrastinate
  worker`` runs the jobs, on any number of hosts (each job is taken by one worker); periodic jobs
  are deferred once per tick across hosts. A worker killed mid-job leaves the job "doing": the
  sweep (``tasks.deliveries_sweep``) re-defers every delivery that is due and not done, so it runs
  again (the receiver sees the same ``webhook-id``).
- ``in_process`` (the embedded SQLite default, ``scripts/serve``): the same task functions, run on
  commit by a thread of the web process, and a loop thread that runs the periodic tasks (the test
  run, on one SQLite connection, runs them in the committing thread: ``JOB_RUNNER_IN_THREAD``). Nothing
  survives a restart except what the database holds, and the sweep picks that up again.

Tasks are plain functions in ``notifications.tasks``; this module is the only one that knows
which runner is in use.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import close_old_connections, transaction

logger = logging.getLogger(__name__)

SWEEP_SECONDS = 30  # the in-process runner's period for the sweep and the expiry scan's check

_executor: ThreadPoolExecutor | None = None
_loop_started = threading.Lock()
_loop: threading.Thread | None = None


def defer(task: str, *, delay_seconds: float = 0, **arguments) -> None:
    """Run the task ``task`` of ``notifications.tasks`` with ``arguments`` (after ``delay_seconds``),
    once the current transaction commits: on PostgreSQL the job is written in that transaction."""
    from notifications import tasks

    function = getattr(tasks, task)
    if settings.JOB_RUNNER == "procrastinate":
        configured = function.configure(schedule_in={"seconds": delay_seconds}) if delay_seconds else function
        configured.defer(**arguments)  # through Django's connection: it commits with the change
        return
    if delay_seconds:
        return  # the in-process loop's sweep runs what is due (deliveries and notices keep their state)
    if getattr(settings, "JOB_RUNNER_IN_THREAD", True):
        transaction.on_commit(lambda: _submit(function, **arguments))
    else:  # the test run's SQLite: one thread, so the job runs in the committing one
        transaction.on_commit(lambda: _run_here(function, **arguments))


def delivery_defer(delivery_id: int, *, delay_seconds: float = 0) -> None:
    defer("deliver", delay_seconds=delay_seconds, delivery_id=delivery_id)


def _submit(function, **arguments) -> None:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="portal-jobs")
    ensure_loop()
    _executor.submit(_guarded, function, **arguments)


def wait_idle(timeout: float = 30) -> None:
    """Wait until the in-process runner has run every job submitted so far (one thread: in order)."""
    if _executor is not None:
        _executor.submit(lambda: None).result(timeout)


def _run_here(function, **arguments) -> None:
    try:
        function(**arguments)
    except Exception:  # the change is committed: a failed job is logged, never the request's error
        logger.exception("background job %s failed", getattr(function, "name", function))


def _guarded(function, **arguments) -> None:
    close_old_connections()
    try:
        function(**arguments)
    except Exception:  # a failed job must not end the runner's thread
        logger.exception("background job %s failed", getattr(function, "name", function))
    finally:
        close_old_connections()


def ensure_loop() -> None:
    """Start the in-process runner's periodic loop (once per process)."""
    global _loop
    if settings.JOB_RUNNER != "in_process" or not getattr(settings, "JOB_RUNNER_LOOP", True):
        return
    with _loop_started:
        if _loop is None:
            _loop = threading.Thread(target=_periodic_loop, name="portal-jobs-loop", daemon=True)
            _loop.start()


def _periodic_loop() -> None:
    from notifications import tasks

    while True:
        time.sleep(SWEEP_SECONDS)
        _guarded(tasks.periodic_in_process)

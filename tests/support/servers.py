"""Real gunicorn servers for tests that need separate worker processes (kills, shared limits)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from django.db import connection


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_database_url() -> str:
    """The URL of the database the test run is using (pytest-django's test database)."""
    settings = connection.settings_dict
    return f"postgres://{settings['USER']}@{settings['HOST']}:{settings['PORT']}/{settings['NAME']}"


def worker_pids(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children")
    return [int(pid) for pid in children.read_text().split()] if children.exists() else []


@contextlib.contextmanager
def gunicorn(*, workers: int = 2, env: dict | None = None):
    """Serve the portal with gunicorn on a free port; yield (process, base URL)."""
    port = free_port()
    full_env = {**os.environ, "DATABASE_URL": test_database_url(), **(env or {})}
    command = [str(Path(sys.executable).parent / "gunicorn"), "licensing_portal.wsgi", "--preload"]
    command += ["--workers", str(workers), "--bind", f"127.0.0.1:{port}"]
    process = subprocess.Popen(command, env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"{url}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("gunicorn did not start")
        yield process, url
    finally:
        process.terminate()
        process.wait(timeout=15)


def redis_forget(url: str, prefix: str) -> None:
    """Delete every Redis key a test wrote under its own ``prefix`` (some never expire by design:
    the pending "last seen" times wait for the next flush)."""
    import redis

    client = redis.Redis.from_url(url)
    names = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if names:
        client.delete(*names)


def redis_available(url: str) -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except Exception:  # noqa: BLE001 - any failure means "not available"
        return False

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


@contextlib.contextmanager
def job_worker(*, env: dict | None = None):
    """Run the job worker (``manage.py procrastinate worker``) against the test database; yield the process."""
    full_env = {**os.environ, "DATABASE_URL": test_database_url(), **(env or {})}
    command = [sys.executable, "manage.py", "procrastinate", "worker"]
    root = Path(__file__).resolve().parent.parent.parent
    process = subprocess.Popen(command, env=full_env, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class Receiver:
    """A webhook receiver on a free local port: records every POST (headers and body) and answers
    ``status`` (200 unless told otherwise)."""

    def __init__(self, status: int = 200):
        import http.server
        import threading

        self.received: list[dict] = []
        self.status = status
        self.arrived = threading.Condition()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.arrived:
                    receiver.received.append({"headers": dict(self.headers.items()), "body": body})
                    receiver.arrived.notify_all()
                self.send_response(receiver.status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, predicate, timeout: float = 60) -> list[dict]:
        """Wait until ``predicate(received)`` holds; return what was received."""
        deadline = time.monotonic() + timeout
        with self.arrived:
            while not predicate(self.received):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"timed out; received {[r['headers'].get('webhook-id') for r in self.received]}"
                    )
                self.arrived.wait(left)
            return list(self.received)

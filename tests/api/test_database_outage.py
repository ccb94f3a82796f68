"""The database going away: 503 JSON on the API, and recovery by itself when it is back."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test import Client

from tests.conftest import FINGERPRINT

# The test database on SQLite is in memory, which Django never closes: run where a server can go away.
pytestmark = pytest.mark.postgres


@pytest.fixture
def database_down(transactional_db):
    """Point the connection at a database that cannot be reached; give it back afterwards."""
    saved = dict(connection.settings_dict)

    def go_down():
        connection.close()
        connection.settings_dict["PORT"] = "1"  # nothing listens there

    def come_back():
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)

    yield go_down, come_back
    come_back()


def test_api_answers_503_json_while_the_database_is_down_and_recovers(database_down, machine_key):
    go_down, come_back = database_down
    client = Client()
    body = json.dumps({"license_key": machine_key["key"], "fingerprint": FINGERPRINT})
    go_down()
    for path in ("/api/v1/activate", "/api/v1/validate"):
        response = client.post(path, body, content_type="application/json")
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "UNAVAILABLE"
        assert response["Retry-After"]
    health = client.get("/healthz")
    assert health.status_code == 503 and health.json()["error"]["code"] == "UNAVAILABLE"
    come_back()
    assert client.post("/api/v1/activate", body, content_type="application/json").json()["code"] == "VALID"
    assert client.get("/healthz").json() == {"status": "ok"}


def test_pages_answer_a_clear_503_while_the_database_is_down_and_recover(database_down, machine_key):
    from organizations.models import User
    from organizations.services import user_create

    go_down, come_back = database_down
    client = Client()
    client.force_login(user_create(actor=None, username="ops", role=User.Role.SUPER_ADMIN))
    go_down()
    response = client.get("/organizations/")
    assert response.status_code == 503
    assert "temporarily unavailable" in response.content.decode()
    assert "Traceback" not in response.content.decode()
    come_back()
    assert client.get("/organizations/").status_code == 200


def _server_ends_the_connection() -> int:
    """PostgreSQL ends this process's open connection (as after a restart or an idle time-out),
    from a connection of its own; return the ended backend's pid."""
    import psycopg

    backend = connection.connection.info.backend_pid
    params = connection.get_connection_params()
    wanted = {name: params[name] for name in ("dbname", "user", "password", "host", "port") if params.get(name)}
    with psycopg.connect(**wanted, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [backend])
    return backend


def test_an_agent_call_on_a_connection_the_database_dropped_runs_again_on_a_new_one(transactional_db, machine_key):
    """Agent calls skip Django's per-request health check (a SELECT 1 before the first query): a
    connection the server ended fails the call's first statement, and the call runs once more."""
    from django.test.utils import CaptureQueriesContext

    client = Client()
    body = json.dumps({"license_key": machine_key["key"], "fingerprint": FINGERPRINT})
    assert client.post("/api/v1/activate", body, content_type="application/json").json()["code"] == "VALID"
    connection.ensure_connection()
    backend = _server_ends_the_connection()
    with CaptureQueriesContext(connection) as captured:
        response = client.post("/api/v1/validate", body, content_type="application/json")
    assert response.status_code == 200 and response.json()["code"] == "VALID"
    assert connection.connection.info.backend_pid != backend
    assert not any(query["sql"].strip().upper() == "SELECT 1" for query in captured)


def _served(path: str, body: bytes = b"") -> tuple[str, bytes]:
    """One request through Django's WSGI handler as gunicorn calls it: unlike the test client, it
    sends the request signals that keep connections and check them (``CONN_HEALTH_CHECKS``)."""
    import io

    from django.core.handlers.wsgi import WSGIHandler

    environ = {
        "REQUEST_METHOD": "POST" if body else "GET",
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": "application/json" if body else "",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    status = []
    content = b"".join(WSGIHandler()(environ, lambda code, headers, exc_info=None: status.append(code)))
    return status[0], content


def test_the_readiness_probe_sends_one_statement_on_a_kept_connection(transactional_db, machine_key):
    """``/healthz`` is the benchmark's floor and the load balancer's probe: one ``SELECT 1``, not
    Django's health check before it too; a connection the server ended is replaced, not a failed probe."""
    sent = []

    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update(CONN_MAX_AGE=60, CONN_HEALTH_CHECKS=True)  # production's
    try:
        assert _served("/healthz")[0] == "200 OK"
        kept = connection.connection

        class Counting(kept.cursor_factory):
            def execute(self, query, params=None, **options):
                sent.append(query)
                return super().execute(query, params, **options)

        kept.cursor_factory = Counting  # the kept connection's every statement
        for _ in range(3):
            status, content = _served("/healthz")
            assert (status, json.loads(content)) == ("200 OK", {"status": "ok"})
        assert sent == ["SELECT 1"] * 3

        body = json.dumps({"license_key": machine_key["key"], "fingerprint": FINGERPRINT}).encode()
        assert json.loads(_served("/api/v1/activate", body)[1])["code"] == "VALID"
        sent.clear()
        assert json.loads(_served("/api/v1/validate", body)[1])["code"] == "VALID"
        assert "SELECT 1" not in sent and len(sent) <= 2

        backend = _server_ends_the_connection()
        assert _served("/healthz")[0] == "200 OK"
        assert connection.connection.info.backend_pid != backend
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)

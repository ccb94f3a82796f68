"""Shared fixtures: organizations, keys and an agent client that speaks the protocol over HTTP."""

from __future__ import annotations

import contextlib
import io
import json
import weakref
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.backends.signals import connection_created
from django.test import Client

# Every database connection this process opens, whatever thread or context opened it.
_opened = weakref.WeakSet()
connection_created.connect(lambda sender, connection, **kwargs: _opened.add(connection), weak=False)


@pytest.fixture(scope="session", autouse=True)
def _every_connection_closed_before_the_test_database_goes(django_db_setup):
    """Django keeps a connection per thread and per context (asgiref's ``Local``). Playwright's sync
    API runs the browser tests in greenlets, whose contexts hold connections of their own that the
    test database's teardown never sees: PostgreSQL then refused to drop it ("is being accessed by
    other users"). Every connection still open is closed first (the raw one: Django's ``close``
    refuses a connection of another thread)."""
    yield
    for wrapper in list(_opened):
        if wrapper.connection is not None:
            with contextlib.suppress(Exception):
                wrapper.connection.close()


@pytest.fixture(scope="session", autouse=True)
def _audit_maintenance_flush():
    """Let the test runner's flush empty the audit table, which refuses TRUNCATE otherwise
    (audit/migrations/0003); nothing else in the suite gets this exemption."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.execute_sql_flush

    def execute_sql_flush(self, sql_list):
        return original(self, ["SELECT set_config('audit.maintenance', 'on', true)", *sql_list])

    DatabaseOperations.execute_sql_flush = execute_sql_flush
    yield
    DatabaseOperations.execute_sql_flush = original


@pytest.fixture(autouse=True)
def _super_admins_sign_in_without_a_second_factor(settings):
    """The suite signs super-admins in with a password (or force_login) only; tests/accounts turns the
    portal's requirement (TWO_FACTOR_REQUIRED_FOR_SUPER_ADMINS, always on outside tests) back on."""
    settings.TWO_FACTOR_REQUIRED_FOR_SUPER_ADMINS = False


def pytest_collection_modifyitems(config, items):
    if connection.vendor != "postgresql":
        skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL); CI runs it")
        for item in items:
            if "postgres" in item.keywords:
                item.add_marker(skip)


def command(name: str, *args) -> dict:
    """Run an operator command and return its JSON answer."""
    out = io.StringIO()
    call_command(name, *args, stdout=out)
    return json.loads(out.getvalue())


FINGERPRINT = {
    "mac": "00:1a:2b:3c:4d:5e",
    "cpu_id": "BFEBFBFF000906EA",
    "hostname": "acme-srv01",
    "product_version": "4.4.2",
}
OTHER_MACHINE = {
    "mac": "00:aa:bb:cc:dd:ee",
    "cpu_id": "AFEBFBFF000906EB",
    "hostname": "globex-01",
    "product_version": "4.4.2",
}


class Agent:
    """Speaks the agent protocol to the portal through Django's test client (real HTTP stack)."""

    def __init__(self, client: Client | None = None, fingerprint: dict | None = None):
        self.client = client or Client()
        self.fingerprint = dict(fingerprint or FINGERPRINT)

    def call(self, endpoint: str, key: str, **extra):
        body = {"license_key": key, "fingerprint": self.fingerprint, **extra}
        return self.client.post(f"/api/v1/{endpoint}", json.dumps(body), content_type="application/json")

    def verdict(self, endpoint: str, key: str, **extra) -> dict:
        response = self.call(endpoint, key, **extra)
        assert response.status_code == 200, response.content
        return response.json()

    def activate(self, key, **extra):
        return self.verdict("activate", key, **extra)

    def validate(self, key, **extra):
        return self.verdict("validate", key, **extra)

    def deactivate(self, key, **extra):
        return self.verdict("deactivate", key, **extra)


@pytest.fixture
def agent(db):
    return Agent()


@pytest.fixture
def org(db):
    organization = command("create_organization", "Acme Corp")
    command("create_environment", organization["id"], "Production")
    return organization


@pytest.fixture
def other_org(db):
    organization = command("create_organization", "Globex")
    command("create_environment", organization["id"], "Production")
    return organization


@pytest.fixture
def machine_key(org):
    return command("issue_key", org["id"], "--kind", "machine", "--environment", "Production")


@pytest.fixture
def server_key(org):
    from django.utils import timezone

    expires = (timezone.now() + timedelta(days=90)).date().isoformat()
    return command("issue_key", org["id"], "--kind", "server", "--machine-name", "ACME-SRV01", "--expires", expires)


@pytest.fixture
def temporary_key(org):
    return command("issue_key", org["id"], "--kind", "temporary", "--ttl", "2h")


@pytest.fixture
def trial_key(org):
    return command("issue_key", org["id"], "--kind", "trial")


@pytest.fixture
def registered_agent(machine_key):
    """An agent whose machine is a registered machine of Acme (it holds Acme's machine key)."""
    agent = Agent()
    assert agent.activate(machine_key["key"])["code"] == "VALID"
    return agent

"""Shared fixtures: organizations, keys and an agent client that speaks the protocol over HTTP."""

from __future__ import annotations

import contextlib
import io
import json
import re
import weakref
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.db.backends.signals import connection_created
from django.test import Client
from django.utils import timezone

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


@pytest.fixture(autouse=True)
def _each_test_starts_in_english():
    """Django keeps the language a German page activated on its thread (as a worker thread does between
    requests); code a test runs outside a request (``str(Total(...))``) must not read the last test's."""
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()


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


# The world of the page tests: two organizations, a user of every role, a key of every kind -----------

PASSWORD = "correct horse battery staple"
ROLES = ["super_admin", "org_admin", "co_admin", "outsider", "partner", "anonymous"]


@pytest.fixture(autouse=True)
def _static_files_without_manifest(settings):
    """With DEBUG off the settings expect collectstatic's manifest; tests serve the source files."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()  # sign-in failure counters live in the cache
    yield
    cache.clear()


class World:
    """Acme (the organization under test) and Globex (the outsider's), with users and keys."""

    def __init__(self):
        from environments.fingerprint import fingerprint_parse
        from environments.services import environment_create
        from licenses.agent_api.flow import license_activate
        from licenses.models import Kind
        from licenses.services import license_issue
        from organizations.models import User
        from organizations.services import organization_create, user_create

        self.acme = organization_create(actor=None, name="Acme Corp", slug="acme")
        self.globex = organization_create(actor=None, name="Globex", slug="globex")
        self.production = environment_create(organization=self.acme, actor=None, name="Production")
        self.globex_production = environment_create(organization=self.globex, actor=None, name="Production")
        self.users = {
            "super_admin": user_create(actor=None, username="root", role=User.Role.SUPER_ADMIN, password=PASSWORD),
            "org_admin": user_create(
                actor=None, username="acme-admin", role=User.Role.ORG_ADMIN, organization=self.acme, password=PASSWORD
            ),
            "co_admin": user_create(
                actor=None, username="acme-coadmin", role=User.Role.CO_ADMIN, organization=self.acme, password=PASSWORD
            ),
            "outsider": user_create(
                actor=None,
                username="globex-admin",
                role=User.Role.ORG_ADMIN,
                organization=self.globex,
                password=PASSWORD,
            ),
            "partner": user_create(actor=None, username="partner", role=User.Role.PARTNER, password=PASSWORD),
        }
        from accounts.models import Invitation, token_digest

        self.invitation = Invitation.objects.create(  # pending, to Acme
            email="invited@acme.example",
            role=User.Role.CO_ADMIN,
            organization=self.acme,
            token_digest=token_digest("an invitation of the world"),
            sent_at=timezone.now(),
            expires_at=timezone.now() + timedelta(days=7),
        )
        admin = self.users["super_admin"]
        self.machine_key, self.machine_text = license_issue(
            organization=self.acme, kind=Kind.MACHINE, actor=admin, environment=self.production, description="Agent 1"
        )
        self.server_key, self.server_text = license_issue(
            organization=self.acme,
            kind=Kind.SERVER,
            actor=self.users["org_admin"],
            machine_name="acme-srv01",
            expires_on=(timezone.now() + timedelta(days=90)).date(),
        )
        self.temporary_key, self.temporary_text = license_issue(
            organization=self.acme,
            kind=Kind.TEMPORARY,
            actor=admin,
            ttl=timedelta(hours=4),
            issued_to=self.users["partner"],
        )
        self.trial_key, self.trial_text = license_issue(organization=self.acme, kind=Kind.TRIAL, actor=admin)
        self.globex_key, self.globex_text = license_issue(
            organization=self.globex, kind=Kind.MACHINE, actor=admin, environment=self.globex_production
        )
        fingerprint = fingerprint_parse(FINGERPRINT)
        outcome = license_activate(key_text=self.machine_text, uid=fingerprint.uid, fingerprint=fingerprint)
        assert outcome.verdict.valid
        self.machine = outcome.machine

    def client(self, role: str) -> Client:
        client = Client()
        if role != "anonymous":
            client.force_login(self.users[role])
        return client


@pytest.fixture
def fast_passwords(settings):
    """PBKDF2 takes about a second per password here; the tests do not test the hasher."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(db, fast_passwords):
    return World()


def shown_key(response) -> str:
    """The key (or activation code) a page shows once, in its ``<code class="secret">``."""
    return re.search(r'<code class="secret" id="[a-z-]+"[^>]*>([^<]+)</code>', response.content.decode()).group(1)

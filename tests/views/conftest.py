"""Fixtures of the page tests: two organizations, a user of every role, a key of every kind."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from tests.conftest import FINGERPRINT

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
        from licenses.models import Kind
        from licenses.services import license_activate, license_issue
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

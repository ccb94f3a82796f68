"""Fixtures of the e-mail notice tests: a real SMTP server, and Acme's people (who gets a notice,
who does not) beside Globex's admin."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.support.smtp import smtp_server  # noqa: F401 - a fixture


class People:
    def __init__(self):
        from organizations.models import User
        from organizations.services import organization_create, user_create

        now = timezone.now()
        # Acme's subscription ends 7 days (less an hour) from now, a year after it began.
        self.acme = organization_create(
            actor=None,
            name="Acme Corp",
            slug="acme",
            subscription_starts_at=now - timedelta(days=358),
            subscription_ends_at=now + timedelta(days=7) - timedelta(hours=1),
        )
        self.globex = organization_create(actor=None, name="Globex", slug="globex", subscription_days=365)

        def user(username, role, organization, **fields):
            created = user_create(
                actor=None, username=username, role=role, organization=organization, email=f"{username}@example.com"
            )
            for name, value in fields.items():
                setattr(created, name, value)
            created.save()
            return created

        self.admin = user("acme-admin", User.Role.ORG_ADMIN, self.acme, language="en")
        self.co_admin = user("acme-coadmin", User.Role.CO_ADMIN, self.acme)
        self.former_admin = user("acme-former", User.Role.ORG_ADMIN, self.acme, is_active=False)
        self.partner = user("acme-partner", User.Role.PARTNER, self.acme)
        self.vendor = user("vendor-root", User.Role.SUPER_ADMIN, None)
        self.outsider = user("globex-admin", User.Role.ORG_ADMIN, self.globex)

    @property
    def acme_managers(self) -> set[str]:
        return {self.admin.email, self.co_admin.email}


@pytest.fixture
def people(db):
    return People()


@pytest.fixture
def in_process(settings):
    """Jobs run by the in-process runner on commit; no loop (a test runs the periodic work itself)."""
    settings.JOB_RUNNER = "in_process"
    settings.JOB_RUNNER_LOOP = False
    settings.PORTAL_URL = "https://portal.example.com"

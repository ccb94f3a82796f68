"""Demo data for a first look: two organizations, environments, one key of every kind, users."""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from environments.fingerprint import fingerprint_parse
from environments.services import environment_create
from licenses.agent_api.flow import license_activate
from licenses.models import Kind
from licenses.services import license_issue
from organizations.models import Organization, User
from organizations.services import organization_create, user_create

DEMO_USERS = ("admin", "acme-admin", "acme-coadmin", "globex-admin", "partner")


class Command(BaseCommand):
    help = "Load demo data once (idempotent) and print the super-admin's sign-in."

    def add_arguments(self, parser):
        parser.add_argument(
            "--address",
            default="127.0.0.1:8000",
            help="host:port the portal is served at, for the printed address (scripts/serve passes PORTAL_ADDRESS)",
        )

    def handle(self, *args, address, **options):
        password_file = Path(settings.SECRETS_DIR) / "demo-sign-in.txt"
        with transaction.atomic():
            if not password_file.exists():
                password_file.parent.mkdir(parents=True, exist_ok=True)
                password_file.write_text(secrets.token_urlsafe(12))
                password_file.chmod(0o600)
            password = password_file.read_text().strip()
            if not Organization.objects.filter(slug="acme-corp").exists():
                self._seed(password)
            for user in User.objects.filter(username__in=DEMO_USERS):
                if not user.check_password(password):  # the file was replaced: keep the printed sign-in true
                    user.set_password(password)
                    user.save(update_fields=["password"])
        self.stdout.write(
            f"\n  Licensing portal demo: http://{address}/\n"
            f"  Sign in as super-admin:  admin / {password}\n"
            f"  Organization admin:      acme-admin / {password}   (co-admin: acme-coadmin, partner: partner)\n"
            f"  Second organization:     globex-admin / {password}   (admin of Globex)\n"
            f"  (password kept in {password_file})\n"
        )

    def _seed(self, password: str) -> None:
        acme = organization_create(actor=None, name="Acme Corp", subscription_days=365)
        globex = organization_create(actor=None, name="Globex", edition="trial", subscription_days=14)
        production = environment_create(organization=acme, actor=None, name="Production")
        environment_create(organization=acme, actor=None, name="Sandbox")
        environment_create(organization=globex, actor=None, name="Production")
        admin = user_create(
            actor=None, username="admin", role=User.Role.SUPER_ADMIN, email="admin@example.com", password=password
        )
        acme_admin = user_create(
            actor=None,
            username="acme-admin",
            role=User.Role.ORG_ADMIN,
            organization=acme,
            email="admin@acme.example",
            password=password,
        )
        user_create(actor=None, username="acme-coadmin", role=User.Role.CO_ADMIN, organization=acme, password=password)
        user_create(
            actor=None,
            username="globex-admin",
            role=User.Role.ORG_ADMIN,
            organization=globex,
            email="admin@globex.example",
            password=password,
        )
        partner = user_create(actor=None, username="partner", role=User.Role.PARTNER, password=password)
        _, machine_text = license_issue(
            organization=acme, kind=Kind.MACHINE, actor=admin, environment=production, description="Agent 1"
        )
        license_issue(
            organization=acme,
            kind=Kind.TEMPORARY,
            actor=admin,
            ttl=timedelta(hours=8),
            issued_to=partner,
            description="Partner support session",
        )
        license_issue(
            organization=acme,
            kind=Kind.SERVER,
            actor=acme_admin,
            machine_name="acme-srv01",
            expires_on=(timezone.now() + timedelta(days=180)).date(),
            description="Reporting server",
        )
        license_issue(organization=acme, kind=Kind.TRIAL, actor=acme_admin, description="Stopgap while renewing")
        license_issue(organization=globex, kind=Kind.FREE, actor=admin, description="Free edition")
        # One agent already activated, so the machines tab, the history and the chart have something to show.
        fingerprint = fingerprint_parse(
            {
                "mac": "00:1a:2b:3c:4d:5e",
                "cpu_id": "BFEBFBFF000906EA",
                "hostname": "acme-app01",
                "product_version": "4.4.2",
            }
        )
        license_activate(key_text=machine_text, uid=fingerprint.uid, fingerprint=fingerprint, machine_name="App server")

"""The demo data behind `scripts/serve`: loaded once, usable at once, sign-in printed."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command

from licenses.models import Kind, LicenseKey
from organizations.models import Organization, User

pytestmark = pytest.mark.django_db


def test_seed_demo_loads_once_and_prints_a_working_sign_in(settings, tmp_path):
    settings.SECRETS_DIR = str(tmp_path)
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    call_command("seed_demo", stdout=io.StringIO())  # idempotent
    assert Organization.objects.count() == 2
    assert set(LicenseKey.objects.values_list("kind", flat=True)) == set(Kind.values)
    assert User.objects.filter(role=User.Role.SUPER_ADMIN).count() == 1
    line = next(line for line in out.getvalue().splitlines() if "super-admin" in line)
    username, password = line.split(":", 1)[1].strip().split(" / ")
    assert authenticate(username=username, password=password).is_super_admin
    assert authenticate(username="acme-admin", password=password).organization.slug == "acme-corp"


def test_seed_demo_prints_the_address_served_and_an_admin_of_the_second_organization(settings, tmp_path):
    settings.SECRETS_DIR = str(tmp_path)
    out = io.StringIO()
    call_command("seed_demo", "--address", "0.0.0.0:9001", stdout=out)
    assert "http://0.0.0.0:9001/" in out.getvalue() and "127.0.0.1:8000" not in out.getvalue()
    line = next(line for line in out.getvalue().splitlines() if "super-admin" in line)
    password = line.split(" / ")[1].strip()
    globex_admin = authenticate(username="globex-admin", password=password)
    assert globex_admin.role == User.Role.ORG_ADMIN and globex_admin.organization.slug == "globex"


def test_serve_script_passes_the_address_it_serves_to_the_printout():
    from pathlib import Path

    script = (Path(__file__).resolve().parents[2] / "scripts" / "serve").read_text()
    assert 'seed_demo --address "$address"' in script and 'runserver "$address"' in script

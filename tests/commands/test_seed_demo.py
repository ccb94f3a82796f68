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

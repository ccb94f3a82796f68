"""Fixtures of the people tests: the page tests' world, mail kept in memory, the second factor required
for super-admins (as outside tests), and helpers that compute a TOTP code as an authenticator app would."""

from __future__ import annotations

import re
import time

import pytest
from django.core import mail
from django.core.cache import cache
from django.test import Client
from django_otp.oath import TOTP

from tests.conftest import PASSWORD, World  # noqa: F401 - PASSWORD is used by the tests


@pytest.fixture(autouse=True)
def _people_settings(settings):
    settings.TWO_FACTOR_REQUIRED_FOR_SUPER_ADMINS = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()  # sign-in and reset counters live in the cache
    yield
    cache.clear()


@pytest.fixture
def world(db):
    return World()


def next_code(user) -> str:
    """The code an authenticator app shows that the device will accept next (never a code used already)."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.get(user=user, confirmed=True)
    now_step = int(time.time()) // device.step
    step = max(now_step + device.drift - 1, device.last_t + 1)
    return f"{TOTP(device.bin_key, step=device.step, drift=step - now_step).token():06d}"


def code_of_pending(user) -> str:
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.get(user=user, confirmed=False)
    return f"{TOTP(device.bin_key, step=device.step).token():06d}"


def sign_in(client: Client, username: str, password: str = PASSWORD, ip: str = "203.0.113.5"):
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=ip)


def invitation_link(message) -> str:
    return re.search(r"http://testserver(/accounts/invitation/\S+/)", message.body).group(1)


def last_mail():
    return mail.outbox[-1]


def enrol(client: Client, user) -> list[str]:
    """Enrol through the pages as a user would (the app's code from the QR code's secret); the recovery codes."""
    page = client.get("/accounts/two-factor/enrol/")
    assert page.status_code == 200 and "<svg" in page.content.decode()
    response = client.post("/accounts/two-factor/enrol/", {"token": code_of_pending(user)})
    assert response.status_code == 200, response.content.decode()[:500]
    return re.findall(r"<li><code>(\w+)</code></li>", response.content.decode())


def signed_in(world, role: str) -> Client:
    """A client of ``role`` past both steps (a super-admin enrols a second factor first)."""
    client = world.client(role)
    if role == "super_admin":
        enrol(client, world.users[role])
    return client

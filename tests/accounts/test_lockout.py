"""Sign-in throttling that cannot be turned against a victim, reset-mail limits, and no reset links in logs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

from django.core import mail
from django.test import Client

from accounts import lockout
from audit.models import AuditEvent
from tests.accounts.conftest import PASSWORD, code_of_pending, next_code, sign_in

ATTACKER, VICTIM = "198.51.100.66", "203.0.113.10"


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_a_strangers_wrong_passwords_never_lock_the_account_out(world):
    for _ in range(30):
        sign_in(Client(), "root", "guess-" + "x" * 8, ip=ATTACKER)
    victim = Client()
    assert sign_in(victim, "root", ip=VICTIM).status_code == 302 and signed_in(victim)


def test_the_same_address_waits_longer_after_each_failure(world, settings):
    settings.SIGN_IN_FAILURE_LIMIT = 3
    for _ in range(3):
        sign_in(Client(), "acme-admin", "wrong password 1", ip=ATTACKER)
    response = sign_in(Client(), "acme-admin", PASSWORD, ip=ATTACKER)  # even the right one waits
    assert "Too many failed sign-ins" in response.content.decode() and "30 seconds" in response.content.decode()
    assert lockout.delay_after(3) == 30 and lockout.delay_after(4) == 60 and lockout.delay_after(5) == 120
    assert lockout.delay_after(50) == 3600
    now = time.time()
    assert lockout.sign_in_wait("acme-admin", ATTACKER, now=now + 31) == 0  # the wait ends by itself
    assert AuditEvent.objects.filter(action="auth.sign_in_locked").exists()


def test_one_address_trying_many_accounts_is_stopped_there_only(world, settings):
    settings.SIGN_IN_FAILURE_LIMIT = 2
    for number in range(8):
        sign_in(Client(), f"someone-{number}", "wrong password", ip=ATTACKER)
    assert not signed_in(client := Client()) and sign_in(client, "acme-coadmin", ip=ATTACKER).status_code == 200
    assert sign_in(Client(), "acme-coadmin", ip=VICTIM).status_code == 302


def test_the_right_password_and_second_factor_get_through_a_wait(world, settings):
    settings.SIGN_IN_FAILURE_LIMIT = 3
    user = world.users["org_admin"]
    own = world.client("org_admin")
    own.get("/accounts/two-factor/enrol/")
    own.post("/accounts/two-factor/enrol/", {"token": code_of_pending(user)})
    for _ in range(5):
        sign_in(Client(), "acme-admin", "wrong password 2", ip=ATTACKER)
    assert sign_in(Client(), "acme-admin", "wrong password 2", ip=ATTACKER).status_code == 200
    client = Client()
    assert sign_in(client, "acme-admin", PASSWORD, ip=ATTACKER).status_code == 302
    assert client.get("/")["Location"].startswith("/accounts/two-factor/verify/")  # the second step stays
    response = client.post("/accounts/two-factor/verify/", {"token": next_code(user)}, REMOTE_ADDR=ATTACKER)
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    assert lockout.sign_in_wait("acme-admin", ATTACKER) == 0  # both steps passed: the wait is over


def test_a_completed_password_reset_lifts_the_wait(world, settings):
    settings.SIGN_IN_FAILURE_LIMIT = 3
    user = world.users["co_admin"]
    user.email = "co@acme.example"
    user.save()
    for _ in range(3):
        sign_in(Client(), "acme-coadmin", "wrong password 3", ip=VICTIM)
    assert sign_in(Client(), "acme-coadmin", ip=VICTIM).status_code == 200  # waiting
    client = Client()
    client.post("/accounts/password_reset/", {"email": "co@acme.example"}, REMOTE_ADDR=VICTIM)
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", mail.outbox[-1].body).group(1)
    form_url = client.get(link)["Location"]
    new = "another brand new passphrase 9"
    assert client.post(form_url, {"new_password1": new, "new_password2": new}).status_code == 302
    assert sign_in(Client(), "acme-coadmin", new, ip=VICTIM).status_code == 302
    assert AuditEvent.objects.filter(action="auth.password_reset", object_id=str(user.pk)).exists()


def test_reset_mails_are_limited_per_account_and_per_address(world, settings):
    settings.PASSWORD_RESET_LIMIT_PER_ACCOUNT, settings.PASSWORD_RESET_LIMIT_PER_ADDRESS = 2, 4
    user = world.users["co_admin"]
    user.email = "co@acme.example"
    user.save()
    for number in range(4):  # four addresses, one account: two mails
        Client().post("/accounts/password_reset/", {"email": "co@acme.example"}, REMOTE_ADDR=f"192.0.2.{number}")
    assert len(mail.outbox) == 2
    for _ in range(4):
        response = Client().post("/accounts/password_reset/", {"email": "x@y.example"}, REMOTE_ADDR=ATTACKER)
        assert response.status_code == 302  # the page never tells whether an e-mail is known
    response = Client().post("/accounts/password_reset/", {"email": "x@y.example"}, REMOTE_ADDR=ATTACKER)
    assert response.status_code == 200 and "Too many password reset requests" in response.content.decode()
    assert AuditEvent.objects.filter(action="auth.password_reset_limited").count() >= 3


def _check(tmp_path, **variables):
    env = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    env |= {
        "DEBUG": "false",
        "SECRET_KEY": "y" * 50,
        "SECRETS_DIR": str(tmp_path),
        "AUTO_CREATE_SECRETS": "true",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        **variables,
    }
    return subprocess.run([sys.executable, "manage.py", "check"], capture_output=True, text=True, env=env, timeout=120)


def test_with_debug_off_the_console_mail_backend_is_refused_unless_allowed(tmp_path):
    console = "django.core.mail.backends.console.EmailBackend"
    refused = _check(tmp_path, EMAIL_BACKEND=console)
    assert refused.returncode != 0 and "ALLOW_CONSOLE_EMAIL" in refused.stderr
    assert _check(tmp_path, EMAIL_BACKEND=console, ALLOW_CONSOLE_EMAIL="true").returncode == 0
    assert _check(tmp_path).returncode == 0  # the default with DEBUG off is SMTP

"""The reference agent against the real portal (pytest-django's live_server, a real HTTP server).

Data is made only through the operator commands (ADMIN_COMMANDS.md); the one exception is
pushing a key's expiry into the past through the ORM, since a TTL is at least a minute.
"""

from __future__ import annotations

import base64
import json
import threading
import urllib.request
from datetime import timedelta

import pytest
from django.core.management import call_command, get_commands
from django.utils import timezone
from licensing_agent import Agent, Heartbeat, TokenError
from licensing_agent.client import new_nonce
from licensing_agent.fingerprint import machine_uid
from licensing_agent.keys import parse_key

from tests.agent.support import MACHINE, Clock, FakePortal, Signer, crc, unused_port_url, verdict_body
from tests.conftest import command

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def portal(live_server) -> str:
    return live_server.url


@pytest.fixture
def org(portal):
    organization = command("create_organization", "Acme Live")
    command("create_environment", organization["id"], "Production")
    return organization


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def make_agent(tmp_path, clock):
    def make(portal_url, *, state="state.json", **overrides):
        options = dict(MACHINE) | overrides
        return Agent(
            product_version="4.4.2",
            portal_url=portal_url,
            state_path=tmp_path / state,
            clock=clock,
            sleep=lambda seconds: None,
            **options,
        )

    return make


@pytest.fixture
def activated(portal, machine_key, make_agent):
    agent = make_agent(portal)
    status = agent.activate(machine_key["key"], machine_name="live test box")
    assert (status.licensed, status.code, status.connection) == (True, "VALID", "portal"), status
    return agent


def test_activate_validate_deactivate(activated, machine_key, org, portal, make_agent):
    jwks = json.load(urllib.request.urlopen(f"{portal}/api/v1/jwks"))
    state = activated.state_file.load()
    assert state.pinned_keys["keys"] == jwks["keys"]
    assert state.license_key == machine_key["key"]
    token = activated.status().token
    assert (token.license_id, token.organization_id, token.kind) == (machine_key["id"], org["id"], "machine")
    assert token.machine_uid == activated.machine_uid()

    status = activated.validate()
    assert (status.licensed, status.code) == (True, "VALID")
    verdict = status.verdict
    assert (verdict.license_id, verdict.kind, verdict.edition, verdict.environment) == (
        machine_key["id"],
        "machine",
        "paid",
        "Production",
    )
    assert verdict.organization == {"id": org["id"], "name": "Acme Live"}
    assert verdict.capabilities == {"save_data_configuration": True, "paid_features": True}
    assert verdict.machine_uid == activated.machine_uid()
    assert verdict.expires_at is not None

    status = activated.deactivate()
    assert (status.licensed, status.code) == (False, "DEACTIVATED")
    assert activated.validate().code == "NOT_ACTIVATED"
    assert make_agent(portal, state="other.json", hostname="elsewhere").activate(machine_key["key"]).licensed


def test_a_temporary_key_that_expires_logs_the_user_out(activated, org, portal, make_agent):
    temporary = command("issue_key", org["id"], "--kind", "temporary", "--ttl", "2h")
    agent = make_agent(portal, state="temporary.json")
    assert agent.activate(temporary["key"]).code == "VALID"  # a registered machine of the organization
    lost, beats, expired = [], [], threading.Event()

    def on_status(status):
        beats.append(status)
        if not status.licensed:
            expired.set()

    with Heartbeat(agent, interval=0.1, on_invalid=lost.append, on_status=on_status):
        while not beats:
            threading.Event().wait(0.02)
        assert beats[0].licensed and beats[0].capabilities == {"save_data_configuration": False, "paid_features": True}
        from licenses.models import LicenseKey

        LicenseKey.objects.filter(public_id=temporary["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
        assert expired.wait(10)
    assert [status.code for status in lost] == ["EXPIRED"]
    assert lost[0].connection == "portal"


def test_a_revoked_key(activated, machine_key, make_agent):
    command("revoke_key", machine_key["id"], "--reason", "live test")
    status = activated.validate()
    assert (status.licensed, status.code) == (False, "REVOKED")
    offline = make_agent(unused_port_url()).validate()  # the cached token does not outlive the answer
    assert (offline.licensed, offline.code) == (False, "REVOKED")


def test_a_renamed_machine_is_a_fingerprint_mismatch(activated, portal, make_agent):
    renamed = make_agent(portal, hostname="acme-srv01-renamed")
    status = renamed.validate()
    assert (status.licensed, status.code, status.changed) == (False, "FINGERPRINT_MISMATCH", ("hostname",))


def test_manual_activation_with_a_code(machine_key, portal, make_agent, settings):
    # pages render static URLs: no collectstatic manifest in a test run (as tests/conftest.py does)
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    agent = make_agent(portal)
    agent.pin()
    code = _manual_activation_code(machine_key["key"], agent.machine_uid())
    offline = make_agent(unused_port_url())
    status = offline.import_code(code, license_key=machine_key["key"])
    assert (status.licensed, status.code) == (True, "TOKEN_VALID")
    assert status.token.license_id == machine_key["id"]
    assert offline.validate().code == "TOKEN_VALID"  # no connection: the code keeps it licensed
    assert agent.validate().code == "VALID"  # and the portal recorded the activation
    with pytest.raises(TokenError, match="another machine"):
        make_agent(portal, state="other.json", hostname="another-host").import_code(code)


def _manual_activation_code(key: str, uid: str) -> str:
    """What the portal's manual-activation page gives a super-admin for this key and UID."""
    import re

    from django.contrib.auth import get_user_model
    from django.test import Client

    call_command("createsuperuser", interactive=False, username="vendor", email="vendor@example.com", verbosity=0)
    browser = Client()
    browser.force_login(get_user_model().objects.get(username="vendor"))
    spaced_uid = " ".join(uid[i : i + 8] for i in range(0, 64, 8)).upper()  # as a person types it
    page = browser.post("/activate/", {"license_key": key, "machine_uid": spaced_uid, "machine_name": "air-gapped"})
    assert page.status_code == 200, page.content.decode()[:2000]
    match = re.search(r'data-testid="activation-code">([^<]+)<', page.content.decode())
    assert match, "the page shows no activation code"
    return match.group(1).strip()


def test_offline_with_a_token(activated, make_agent, clock):
    offline = make_agent(unused_port_url())
    clock.advance(days=20)
    status = offline.validate()
    assert (status.licensed, status.code, status.connection) == (True, "TOKEN_VALID", "unreachable")
    assert any("working offline" in warning for warning in status.warnings)
    clock.advance(days=11)
    assert not offline.validate().licensed  # the 30-day lease is over


def test_the_grace_period_without_a_token(machine_key, portal, make_agent, clock):
    make_agent(portal).pin()  # at install time
    offline = make_agent(unused_port_url())
    status = offline.activate(machine_key["key"])
    assert (status.licensed, status.code, status.connection) == (True, "GRACE_PERIOD", "unreachable")
    assert status.grace_ends_at == parse_key(machine_key["key"]).issued_at + timedelta(days=7)
    clock.advance(days=7, minutes=1)
    assert offline.validate().code == "GRACE_EXPIRED"
    assert make_agent(portal).activate(machine_key["key"]).code == "VALID"  # back online: activated


def test_a_clock_set_back(activated, make_agent, clock):
    clock.advance(days=2)  # the agent saw this time (say, last week's heartbeat)
    assert activated.validate().licensed
    clock.advance(days=-3)
    status = make_agent(unused_port_url()).validate()
    assert (status.licensed, status.code) == (False, "CLOCK_SET_BACK")


def test_the_portal_clock_counts_as_seen(activated, make_agent, clock):
    clock.now = timezone.now() - timedelta(hours=2)  # this machine's clock is two hours slow
    status = activated.validate()
    assert status.licensed and any("clock" in warning for warning in status.warnings)
    assert make_agent(unused_port_url()).validate().code == "CLOCK_SET_BACK"


def test_a_tampered_token(activated, make_agent, clock):
    clock.advance(days=8)  # past the key's grace period: only the token can license offline
    offline = make_agent(unused_port_url())
    assert offline.validate().code == "TOKEN_VALID"
    state = offline.state_file.load()
    header, payload, signature = state.token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["exp"] += 365 * 86400  # a year more
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    state.token = f"{header}.{payload}.{signature}"
    offline.state_file.save(state)
    status = offline.validate()
    assert (status.licensed, status.code, status.token) == (False, "TOKEN_INVALID", None)
    assert "signature" in status.detail


def test_a_tampered_key(machine_key, portal, make_agent):
    agent = make_agent(portal)
    agent.pin()
    text = machine_key["key"]
    body = bytearray(base64.urlsafe_b64decode(text[5:-9] + "=="))
    body[2] ^= 0x01  # another organization
    head = "LP1M-" + base64.urlsafe_b64encode(bytes(body)).decode().rstrip("=")
    tampered = f"{head}-{crc(head)}"
    report = agent.inspect(tampered)
    assert report.well_formed and report.signature_valid is False
    assert agent.inspect(text).signature_valid is True
    status = agent.activate(tampered)
    assert (status.licensed, status.code, status.connection) == (False, "NOT_FOUND", "portal")


def test_a_forged_verdict_from_a_fake_server(activated, portal, make_agent):
    real_kid = activated.pinned_keys().kids[0]
    with FakePortal(signer=Signer(kid=real_kid)) as impostor:
        status = make_agent(impostor.url).validate()
    assert status.untrusted and status.verdict is None
    assert (status.licensed, status.code) == (True, "TOKEN_VALID")  # the real token decides, not the impostor


def test_a_forged_verdict_cannot_activate(machine_key, portal, make_agent):
    make_agent(portal).pin()
    real_kid = make_agent(portal).pinned_keys().kids[0]
    with FakePortal(signer=Signer(kid=real_kid)) as impostor:
        status = make_agent(impostor.url).activate(machine_key["key"])
    assert status.untrusted and status.code != "VALID" and status.token is None
    assert make_agent(portal).state_file.load().token is None


def test_a_replayed_verdict(activated, portal, machine_key, make_agent):
    """A genuine VALID verdict of the portal, recorded, and sent again by a fake server."""
    fingerprint = activated.fingerprint().as_request()
    request = urllib.request.Request(
        f"{portal}/api/v1/validate",
        data=json.dumps({"license_key": machine_key["key"], "fingerprint": fingerprint, "nonce": new_nonce()}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as response:
        recorded = (200, {"License-Signature": response.headers["License-Signature"]}, response.read())
    assert json.loads(recorded[2])["code"] == "VALID"
    command("revoke_key", machine_key["id"])
    with FakePortal() as replayer:
        replayer.respond = lambda endpoint, request: recorded
        status = make_agent(replayer.url).validate()
    assert status.untrusted and status.verdict is None
    assert any("replay" in warning for warning in status.warnings)


def test_a_rotated_signing_key(activated, portal):
    if "rotate_signing_key" not in get_commands():
        pytest.skip("the portal has no rotate_signing_key command yet")
    old_kids = activated.pinned_keys().kids
    command("rotate_signing_key", "--now")  # the new key signs at once
    status = activated.validate()
    assert (status.licensed, status.code) == (True, "VALID")
    assert status.verdict.kid not in old_kids
    assert set(old_kids) < set(activated.pinned_keys().kids)
    assert activated.status().code == "TOKEN_VALID"  # the token signed with the old key still holds


def test_the_fake_portal_speaks_like_the_real_one(activated, portal, machine_key):
    """The unit tests' fake verdicts have the real verdicts' shape."""
    fingerprint = activated.fingerprint().as_request()
    body = {"license_key": machine_key["key"], "fingerprint": fingerprint, "nonce": "n-1"}
    request = urllib.request.Request(
        f"{portal}/api/v1/validate", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request) as response:
        real = json.loads(response.read())
    fake = verdict_body({"nonce": "n-1"})
    assert set(real) == set(fake)
    assert set(real["license"]) == set(fake["license"])
    assert set(real["machine"]) == set(fake["machine"])
    assert real["machine"]["uid"] == machine_uid(**fingerprint)


def test_the_command_line_against_the_portal(portal, machine_key, tmp_path):
    """``python -m agent`` in its own process, as a script would run it: exit codes 0, 1, 2."""
    import subprocess
    import sys
    from pathlib import Path

    repository = Path(__file__).resolve().parents[2]
    machine = ["--mac", MACHINE["mac"], "--cpu-id", MACHINE["cpu_id"], "--hostname", MACHINE["hostname"]]

    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "agent", *args, "--state", str(tmp_path / "cli.json"), *machine],
            cwd=repository,
            capture_output=True,
            text=True,
            timeout=60,
        )

    result = run("activate", machine_key["key"], "--portal", portal, "--product-version", "4.4.2")
    assert result.returncode == 0 and "Licensed: yes (VALID" in result.stdout, result.stderr
    result = run("validate", "--json")
    assert result.returncode == 0 and json.loads(result.stdout)["verdict"]["license_id"] == machine_key["id"]
    assert run("status").returncode == 0
    command("revoke_key", machine_key["id"])
    result = run("validate")
    assert result.returncode == 1 and "REVOKED" in result.stdout
    assert run("inspect", machine_key["key"]).returncode == 0
    assert run("activate", "LP1M-typo").returncode == 1
    assert run("validate", "--portal", "not a url").returncode == 2


def test_an_agent_that_asks_for_german_trusts_the_german_verdict(machine_key, trial_key, portal, make_agent):
    """The signature covers the German text: the agent verifies it as any other."""
    status = make_agent(portal, language="de").activate(machine_key["key"])
    assert (status.licensed, status.code, status.connection) == (True, "VALID", "portal"), status
    assert status.detail.startswith("Lizenz gültig bis ")
    trial = make_agent(portal, state="trial.json", hostname="trial-box", language="de").activate(trial_key["key"])
    assert trial.code == "VALID" and trial.banner.startswith("Testlizenz: nur zur Evaluierung")
    english = make_agent(portal, state="english.json", hostname="other-box").activate(trial_key["key"])
    assert english.code == "FINGERPRINT_MISMATCH" and english.detail.startswith(
        "The computer name changed from trial-box to other-box."
    )

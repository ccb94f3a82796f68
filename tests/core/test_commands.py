"""The operators' commands (ADMIN_COMMANDS.md): one JSON line, exit 1 with a reason on bad input."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from audit.models import AuditEvent
from licenses.models import LicenseKey
from tests.conftest import Agent, command

pytestmark = pytest.mark.django_db


def test_create_organization_defaults_and_output():
    out = io.StringIO()
    call_command("create_organization", "Acme Corp", stdout=out)
    assert out.getvalue().count("\n") <= 1
    result = json.loads(out.getvalue())
    assert set(result) == {"id", "name", "slug", "subscription_ends_at"}
    assert result["name"] == "Acme Corp" and result["slug"] == "acme-corp"
    ends = timezone.datetime.fromisoformat(result["subscription_ends_at"].replace("Z", "+00:00"))
    assert abs((ends - timezone.now()) - timedelta(days=365)) < timedelta(minutes=1)
    assert command("create_organization", "Acme Corp")["slug"] == "acme-corp-2"
    event = AuditEvent.objects.filter(action="organization.create").first()
    assert event.actor_label == "system (command line)"


def test_create_environment_by_slug_or_uuid(org):
    result = command("create_environment", org["slug"], "Sandbox")
    assert result["name"] == "Sandbox" and result["organization"] == org["id"]
    assert command("create_environment", org["id"], "Staging")["name"] == "Staging"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create_organization", "Acme", "--subscription-days", "-1"], "negative"),
        (["create_environment", "no-such-org", "X"], "no-such-org"),
        (["create_environment", "acme-corp", "production"], "already has"),
        (["issue_key", "acme-corp", "--kind", "machine"], "--environment"),
        (["issue_key", "acme-corp", "--kind", "machine", "--environment", "Nope"], "Nope"),
        (["issue_key", "acme-corp", "--kind", "temporary", "--ttl", "2 hours"], "duration"),
        (["issue_key", "acme-corp", "--kind", "temporary"], "--ttl"),
        (["issue_key", "acme-corp", "--kind", "server", "--machine-name", "h"], "--expires"),
        (["issue_key", "acme-corp", "--kind", "server", "--machine-name", "h", "--expires", "2027-13-01"], "date"),
        (["issue_key", "acme-corp", "--kind", "server", "--machine-name", "h", "--expires", "2001-01-01"], "past"),
        (["issue_key", "acme-corp", "--kind", "server", "--machine-name", "h", "--expires", "9999-12-31"], "years"),
        (["issue_key", "acme-corp", "--kind", "temporary", "--ttl", "99999999999d"], "1 minute and 365 days"),
        (["issue_key", "acme-corp", "--kind", "temporary", "--ttl", "366d"], "1 minute and 365 days"),
        (["issue_key", "acme-corp", "--kind", "temporary", "--ttl", "0m"], "1 minute and 365 days"),
        (["issue_key", "acme-corp", "--kind", "temporary", "--ttl", "1s"], "duration"),
        (["revoke_key", "not-a-key"], "No such key"),
        (["detach_machine", "xyz"], "64 hexadecimal"),
        (["detach_machine", "a" * 64], "No machine"),
        (["set_organization_status", "acme-corp", "gone"], "invalid choice"),
        (["set_environment_status", "acme-corp", "Nope", "enabled"], "no environment"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(org, args, message):
    events, keys = AuditEvent.objects.count(), LicenseKey.objects.count()
    with pytest.raises(CommandError, match=message):
        call_command(*args, stdout=io.StringIO(), stderr=io.StringIO())
    assert (AuditEvent.objects.count(), LicenseKey.objects.count()) == (events, keys)


@pytest.mark.parametrize(
    ("args", "kind"),
    [
        (["--kind", "machine", "--environment", "production"], "machine"),
        (["--kind", "temporary", "--ttl", "30m"], "temporary"),
        (["--kind", "server", "--machine-name", "srv", "--expires", "2099-01-31"], "server"),
        (["--kind", "trial", "--description", "renewal late"], "trial"),
    ],
)
def test_issue_key_of_every_kind(org, args, kind):
    result = command("issue_key", org["slug"], *args)
    assert set(result) == {"id", "key", "kind", "expires_at"}
    assert result["kind"] == kind and result["key"].startswith("LP1")
    if kind == "server":
        assert result["expires_at"] == "2099-02-01T00:00:00Z"
    assert AuditEvent.objects.filter(action="license.issue", object_id=result["id"]).exists()


def test_revoke_by_key_or_id(org, machine_key, trial_key):
    by_id = command("revoke_key", machine_key["id"], "--reason", "leaked")
    assert by_id["id"] == machine_key["id"] and by_id["status"] == "revoked" and by_id["revoked_at"].endswith("Z")
    assert command("revoke_key", trial_key["key"])["id"] == trial_key["id"]
    with pytest.raises(CommandError, match="already revoked"):
        call_command("revoke_key", machine_key["id"], stdout=io.StringIO())


def test_statuses(org):
    assert command("set_organization_status", org["id"], "suspended") == {"id": org["id"], "status": "suspended"}
    result = command("set_environment_status", org["slug"], "Production", "deleted")
    assert result["status"] == "deleted"
    assert command("set_environment_status", org["slug"], "production", "enabled")["status"] == "enabled"


def test_detach_machine_releases_its_keys(machine_key, trial_key):
    agent = Agent()
    uid = agent.activate(machine_key["key"])["machine"]["uid"]
    agent.activate(trial_key["key"])
    result = command("detach_machine", "-".join([uid[:32], uid[32:]]))
    assert result["uid"] == uid and sorted(result["released_keys"]) == sorted([machine_key["id"], trial_key["id"]])


def test_a_command_line_run_exits_1_with_the_reason_on_stderr(tmp_path):
    import os

    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}

    def run(*args):
        return subprocess.run(
            [sys.executable, "manage.py", *args], capture_output=True, text=True, timeout=120, env=env
        )

    assert run("migrate", "--no-input").returncode == 0
    result = run("create_environment", "no-such-org", "X")
    assert result.returncode == 1
    assert result.stdout == ""
    assert "no-such-org" in result.stderr and "Traceback" not in result.stderr
    created = run("create_organization", "Initech", "--edition", "free")
    assert created.returncode == 0 and json.loads(created.stdout)["slug"] == "initech"

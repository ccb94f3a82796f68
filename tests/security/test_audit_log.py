"""The audit log: every state-changing service writes an event; nothing can change or delete one."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent, AuditLogImmutable
from audit.services import audit_record
from environments import services as environment_services
from environments.models import Environment, Machine
from licenses import bindings
from licenses import services as license_services
from licenses.models import LicenseKey
from organizations import services as organization_services
from organizations.models import Organization, User
from tests.conftest import FINGERPRINT, Agent

pytestmark = pytest.mark.django_db


def actions_during(work) -> list[str]:
    last = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    work()
    return list(AuditEvent.objects.filter(id__gt=last).order_by("id").values_list("action", flat=True))


def test_every_state_changing_service_writes_an_audit_event():
    admin = organization_services.user_create(
        actor=None, username="root", role=User.Role.SUPER_ADMIN, password="x" * 12
    )
    holder = {}

    def create_org():
        holder["org"] = organization_services.organization_create(actor=admin, name="Acme")

    def create_environment():
        holder["env"] = environment_services.environment_create(organization=holder["org"], actor=admin, name="Prod")

    def issue(kind, **extra):
        def run():
            holder[kind] = license_services.license_issue(organization=holder["org"], kind=kind, actor=admin, **extra)

        return run

    tomorrow = (timezone.now() + timedelta(days=2)).date()
    steps = [
        (create_org, ["organization.create"]),
        (
            lambda: organization_services.organization_update(organization=holder["org"], actor=admin, name="Acme 2"),
            ["organization.update"],
        ),
        (
            lambda: organization_services.organization_set_status(
                organization=holder["org"], actor=admin, status="suspended"
            ),
            ["organization.suspend"],
        ),
        (
            lambda: organization_services.organization_set_status(
                organization=holder["org"], actor=admin, status="active"
            ),
            ["organization.resume"],
        ),
        (
            lambda: organization_services.user_create(
                actor=admin, username="a", role="org_admin", organization=holder["org"]
            ),
            ["user.create"],
        ),
        (create_environment, ["environment.create"]),
        (
            lambda: bindings.environment_set_status(environment=holder["env"], actor=admin, status="disabled"),
            ["environment.disable"],
        ),
        (
            lambda: bindings.environment_set_status(environment=holder["env"], actor=admin, status="enabled"),
            ["environment.enable"],
        ),
        (issue("machine", environment=holder.get("env")), None),
        (issue("server", machine_name="acme-srv01", expires_on=tomorrow), ["license.issue"]),
        (issue("trial"), ["license.issue"]),
        (issue("temporary", ttl=timedelta(hours=1)), ["license.issue"]),
    ]
    for work, expected in steps[:8]:
        assert actions_during(work) == expected
    assert actions_during(issue("machine", environment=holder["env"])) == ["license.issue"]
    for work, expected in steps[9:]:
        assert actions_during(work) == expected

    machine_text = holder["machine"][1]
    assert actions_during(lambda: Agent().activate(machine_text)) == ["license.activate", "machine.bind"]
    assert actions_during(lambda: Agent().validate(machine_text)) == []  # a heartbeat changes nothing
    assert actions_during(lambda: Agent().deactivate(machine_text)) == ["license.deactivate"]
    Agent().activate(machine_text)
    machine = Machine.objects.get()
    assert actions_during(
        lambda: environment_services.machine_set_primary(machine=machine, actor=admin, is_primary=True)
    ) == ["machine.primary"]
    assert actions_during(lambda: bindings.machine_detach(machine=machine, actor=admin)) == ["machine.detach"]
    server = holder["server"][0]
    assert actions_during(
        lambda: license_services.license_update(
            license_key=server, actor=admin, description="d", status="inactive", expires_on=tomorrow
        )
    ) == ["license.update"]
    assert actions_during(lambda: license_services.license_reveal(license_key=server, actor=admin)) == [
        "license.reveal"
    ]
    assert actions_during(lambda: license_services.license_delete_many(license_keys=[server], actor=admin)) == [
        "license.delete"
    ]
    assert actions_during(
        lambda: license_services.license_revoke(license_key=holder["trial"][0], actor=admin, reason="r")
    ) == ["license.revoke"]
    environment = Environment.objects.get()
    assert actions_during(
        lambda: bindings.environment_set_status(environment=environment, actor=admin, status="deleted")
    ) == ["environment.delete"]
    assert actions_during(
        lambda: bindings.environment_set_status(environment=environment, actor=admin, status="enabled")
    ) == ["environment.reattach"]


def test_events_carry_actor_request_id_ip_and_before_after(org, machine_key):
    client = Client(HTTP_X_REQUEST_ID="req-123", REMOTE_ADDR="203.0.113.9")
    body = json.dumps({"license_key": machine_key["key"], "fingerprint": FINGERPRINT})
    client.post("/api/v1/activate", body, content_type="application/json")
    event = AuditEvent.objects.get(action="license.activate")
    assert (event.actor_label, event.request_id, event.ip) == ("agent", "req-123", "203.0.113.9")
    assert event.organization.uuid.hex == org["id"].replace("-", "")
    assert event.object_id == machine_key["id"]
    revoked = AuditEvent.objects.none()
    license_services.license_revoke(license_key=LicenseKey.objects.get(), actor=None, reason="leak")
    revoked = AuditEvent.objects.get(action="license.revoke")
    assert revoked.before["status"] == "active" and revoked.after["status"] == "revoked"


def test_the_application_cannot_change_or_delete_an_event():
    event = audit_record(actor=None, action="verdict_cache.clear")
    event.action = "changed"
    with pytest.raises(AuditLogImmutable):
        event.save()
    with pytest.raises(AuditLogImmutable):
        event.delete()
    with pytest.raises(AuditLogImmutable):
        AuditEvent.objects.filter(pk=event.pk).update(action="changed")
    with pytest.raises(AuditLogImmutable):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get(pk=event.pk).action == "verdict_cache.clear"


@pytest.mark.postgres
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_auditevent SET action = 'x'",
        "DELETE FROM audit_auditevent",
        "TRUNCATE audit_auditevent",
    ],
)
def test_postgres_refuses_stray_sql_on_the_audit_table(statement):
    audit_record(actor=None, action="verdict_cache.clear")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    assert AuditEvent.objects.filter(action="verdict_cache.clear").count() == 1


def test_sign_in_failures_and_lockout_are_audited_without_the_password(settings):
    from django.core.cache import cache

    cache.clear()
    settings.SIGN_IN_FAILURE_LIMIT = 3
    organization_services.user_create(
        actor=None, username="dana", role=User.Role.SUPER_ADMIN, password="correct-horse-battery"
    )
    from django.contrib.auth import authenticate
    from django.test import RequestFactory

    request = RequestFactory().post("/accounts/login/")
    request.client_ip = "198.51.100.7"
    for _ in range(3):
        assert authenticate(request, username="dana", password="wrong-password-1") is None
    # Locked: even the right password is refused until the window ends.
    assert authenticate(request, username="dana", password="correct-horse-battery") is None
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions[-4:] == ["auth.sign_in_failed"] * 3 + ["auth.sign_in_locked"]
    dump = json.dumps(list(AuditEvent.objects.values()), default=str)
    assert "wrong-password-1" not in dump and "correct-horse-battery" not in dump
    cache.clear()
    assert authenticate(request, username="dana", password="correct-horse-battery") is not None
    assert AuditEvent.objects.order_by("-id").first().action == "auth.sign_in"


def test_keys_tokens_and_passwords_never_reach_audit_or_logs(org, machine_key, caplog):
    caplog.set_level(logging.DEBUG)
    client = Client()
    body = {"license_key": machine_key["key"], "fingerprint": FINGERPRINT}
    verdict = client.post("/api/v1/activate", json.dumps(body), content_type="application/json").json()
    client.post(
        "/api/v1/activate",
        json.dumps({**body, "license_key": machine_key["key"][:-1]}),
        content_type="application/json",
    )
    license_key = LicenseKey.objects.get()
    license_services.license_reveal(license_key=license_key, actor=None)
    license_services.license_revoke(license_key=license_key, actor=None, reason="done")
    organization_services.user_create(actor=None, username="eve", role="partner", password="very-secret-password-9")
    secrets = [machine_key["key"], verdict["activation"], "very-secret-password-9"]
    dump = json.dumps(list(AuditEvent.objects.values()), default=str)
    dump += json.dumps(list(Organization.objects.values()), default=str)
    for secret in secrets:
        assert secret not in dump
        assert secret not in caplog.text


def test_user_changes_in_the_django_admin_are_audited_without_the_password(world):
    client = world.client("super_admin")
    partner = world.users["partner"]
    response = client.post(
        f"/admin/organizations/user/{partner.pk}/change/",
        {
            "username": "partner",
            "email": "p@example.com",
            "role": "partner",
            "is_active": "on",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    event = AuditEvent.objects.filter(action="user.update", object_id=str(partner.pk)).get()
    assert event.actor == world.users["super_admin"]
    assert event.before["email"] == "" and event.after["email"] == "p@example.com"

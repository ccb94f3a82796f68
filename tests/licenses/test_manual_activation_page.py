"""The manual activation pages through Django's test client: the role that may does it, the roles that
may not change nothing."""

from __future__ import annotations

from audit.models import AuditEvent
from licenses.models import ActivationEvent, Kind
from tests.conftest import shown_key


def test_manual_activation_gives_a_code_and_records_it(world):
    from licenses.services import license_issue

    license_key, text = license_issue(
        organization=world.acme, kind=Kind.MACHINE, actor=world.users["org_admin"], environment=world.production
    )
    uid = "AB" * 32
    typed = " ".join(uid[i : i + 8] for i in range(0, 64, 8)).replace(" ", "-", 3)
    response = world.client("co_admin").post("/activate/", {"license_key": f"  {text}\n", "machine_uid": typed})
    assert response.status_code == 200
    token = shown_key(response)
    import jwt

    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["machine_uid"] == uid.lower() and claims["sub"] == str(license_key.public_id)
    assert ActivationEvent.objects.filter(
        license=license_key, event="manual_activate", machine_uid=uid.lower()
    ).exists()
    assert AuditEvent.objects.filter(action="license.activate_manual", actor_label="acme-coadmin").exists()
    license_key.refresh_from_db()
    assert license_key.machine.uid == uid.lower()


def test_manual_activation_of_another_organizations_key_is_not_found(world):
    response = world.client("org_admin").post(
        "/activate/", {"license_key": world.globex_text, "machine_uid": "ab" * 32}
    )
    assert "No such license key." in response.content.decode()
    world.globex_key.refresh_from_db()
    assert world.globex_key.machine is None
    assert (
        "No such license key."
        in world.client("org_admin")
        .post("/activate/", {"license_key": "LP1M-nonsense", "machine_uid": "ab" * 32})
        .content.decode()
    )


def test_manual_activation_reports_the_verdict_and_bad_uids(world):
    client = world.client("org_admin")
    response = client.post("/activate/", {"license_key": world.machine_text, "machine_uid": "cd" * 32})
    assert "FINGERPRINT_MISMATCH" in response.content.decode()  # bound to the agent's machine
    response = client.post("/activate/", {"license_key": world.machine_text, "machine_uid": "xyz"})
    html = response.content.decode()
    assert "64 hexadecimal characters" in html and 'value="xyz"' in html


def test_super_admin_activates_any_organizations_key(world):
    response = world.client("super_admin").post(
        "/activate/", {"license_key": world.globex_text, "machine_uid": "ef" * 32}
    )
    assert shown_key(response).count(".") == 2

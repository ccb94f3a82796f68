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


def _claims(response):
    import jwt

    return jwt.decode(shown_key(response), options={"verify_signature": False})


def test_a_manual_code_lives_until_the_subscription_ends_and_the_page_says_so(world):
    from datetime import UTC, datetime, timedelta

    from django.utils import timezone

    from licenses.services import license_issue
    from organizations.models import Organization

    ends = (timezone.now() + timedelta(days=200)).replace(microsecond=0)
    Organization.objects.filter(pk=world.acme.pk).update(subscription_ends_at=ends)
    _key, text = license_issue(organization=world.acme, kind=Kind.MACHINE, actor=None, environment=world.production)
    response = world.client("org_admin").post("/activate/", {"license_key": text, "machine_uid": "ab" * 32})
    claims = _claims(response)
    assert datetime.fromtimestamp(claims["exp"], UTC) == ends  # not the 30-day online lease
    html = response.content.decode()
    shown = html[html.index('data-testid="code-expires"') :]
    assert shown.index(f"{ends:%Y-%m-%d %H:%M}") < shown.index("</p>")
    assert "the end of Acme" in html and "subscription" in html


def test_a_manual_code_of_a_server_key_lives_until_its_date_and_a_free_key_for_years(world, settings):
    from datetime import UTC, datetime, timedelta

    from django.utils import timezone

    from licenses.services import license_issue

    later = (timezone.now() + timedelta(days=400)).date()
    server, server_text = license_issue(
        organization=world.acme, kind=Kind.SERVER, actor=None, machine_name="vault", expires_on=later
    )
    response = world.client("org_admin").post("/activate/", {"license_key": server_text, "machine_uid": "ac" * 32})
    assert datetime.fromtimestamp(_claims(response)["exp"], UTC) == server.expires_at
    assert "when the key ends" in response.content.decode()

    _free, free_text = license_issue(organization=world.acme, kind=Kind.FREE, actor=None)
    response = world.client("org_admin").post("/activate/", {"license_key": free_text, "machine_uid": "ad" * 32})
    lifetime = datetime.fromtimestamp(_claims(response)["exp"], UTC) - timezone.now()
    assert abs(lifetime - timedelta(days=settings.LICENSE_MANUAL_CODE_MAX_DAYS)) < timedelta(minutes=5)
    assert "the key has no end date" in response.content.decode()


def test_an_online_token_keeps_the_lease(world, settings):
    from datetime import UTC, datetime, timedelta

    import jwt
    from django.utils import timezone

    from licenses.services import license_issue
    from tests.conftest import FINGERPRINT, Agent

    _free, free_text = license_issue(organization=world.acme, kind=Kind.FREE, actor=None)
    verdict = Agent(fingerprint={**FINGERPRINT, "hostname": "lease-box"}).activate(free_text)
    lifetime = datetime.fromtimestamp(
        jwt.decode(verdict["activation"], options={"verify_signature": False})["exp"], UTC
    )
    assert abs(lifetime - timezone.now() - timedelta(days=settings.LICENSE_TOKEN_LEASE_DAYS)) < timedelta(minutes=5)


def test_a_german_reader_gets_the_verdict_in_german_and_its_code(world):
    from licenses.services import license_issue

    _, text = license_issue(
        organization=world.acme, kind=Kind.MACHINE, actor=world.users["org_admin"], environment=world.production
    )
    client = world.client("co_admin")
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "de"
    done = client.post("/activate/", {"license_key": text, "machine_uid": "cd" * 32}).content.decode()
    assert "Lizenz gültig bis " in done and "License valid" not in done
    assert "Der Code gilt bis <strong>" in done and "dem Ende des Abonnements von Acme Corp" in done
    refused = client.post("/activate/", {"license_key": text, "machine_uid": "ef" * 32}).content.decode()
    assert "Dieser Lizenzschlüssel ist auf einer anderen Maschine aktiviert" in refused
    assert "(FINGERPRINT_MISMATCH)" in refused

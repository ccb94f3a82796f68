"""The pages' workflows through Django's test client.

The role that may does it; the roles that may not change nothing.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from environments.models import Environment, Machine
from licenses.models import ActivationEvent, Kind, LicenseKey
from organizations.models import Organization
from tests.conftest import FINGERPRINT, Agent
from tests.views.conftest import PASSWORD

# Signing in and out, password reset -----------------------------------------------------------------


def test_sign_in_and_out(world):
    client = Client()
    response = client.post("/accounts/login/", {"username": "acme-admin", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"
    assert "Acme Corp" in client.get("/").content.decode()
    assert client.get("/accounts/logout/").status_code == 405  # signing out is a POST
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/").status_code == 302


def test_wrong_password_keeps_the_username_and_says_why(world):
    response = Client().post("/accounts/login/", {"username": "acme-admin", "password": "nope"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Please enter a correct username and password" in html
    assert 'value="acme-admin"' in html


def test_sign_in_is_refused_after_too_many_failures(world, settings):
    settings.SIGN_IN_FAILURE_LIMIT = 3
    client = Client()
    for _ in range(3):
        client.post("/accounts/login/", {"username": "acme-admin", "password": "wrong"})
    response = client.post("/accounts/login/", {"username": "acme-admin", "password": PASSWORD})
    assert "Too many failed sign-ins" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_password_reset_by_mail(world, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    user = world.users["org_admin"]
    user.email = "admin@acme.example"
    user.save()
    client = Client()
    response = client.post("/accounts/password_reset/", {"email": "admin@acme.example"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", mail.outbox[0].body).group(1)
    form_url = client.get(link)["Location"]
    new_password = "a brand new passphrase 42"
    response = client.post(form_url, {"new_password1": new_password, "new_password2": new_password})
    assert response.status_code == 302
    assert Client().login(username="acme-admin", password=new_password)


def test_state_changing_requests_need_a_csrf_token(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.users["super_admin"])
    response = client.post("/organizations/acme/environments/add/", {"name": "Staging"})
    assert response.status_code == 403
    assert not Environment.objects.filter(name="Staging").exists()


@pytest.mark.parametrize(
    "url",
    [
        "/organizations/acme/environments/add/",
        "/organizations/acme/licenses/issue/",
        "/organizations/acme/temporary-keys/generate/",
        "/organizations/acme/server-keys/generate/",
        "/organizations/acme/server-keys/delete/",
    ],
)
def test_actions_are_post_only(world, url):
    assert world.client("super_admin").get(url).status_code == 405


# Organizations ---------------------------------------------------------------------------------------


def test_super_admin_creates_an_organization(world):
    client = world.client("super_admin")
    response = client.post(
        "/organizations/new/",
        {
            "name": "Initech",
            "slug": "",
            "edition": "trial",
            "subscription_starts_at": "2026-01-01T00:00",
            "subscription_ends_at": "2027-01-01T00:00",
            "transfer_limit": "5",
        },
    )
    organization = Organization.objects.get(name="Initech")
    assert response["Location"] == "/organizations/initech/"
    assert organization.edition == "trial" and organization.transfer_limit == 5
    assert organization.subscription_ends_at.isoformat() == "2027-01-01T00:00:00+00:00"
    assert AuditEvent.objects.filter(action="organization.create", organization=organization).exists()


def test_organization_form_shows_errors_next_to_fields_and_keeps_input(world):
    response = world.client("super_admin").post(
        "/organizations/new/",
        {
            "name": "Initech",
            "slug": "acme",
            "edition": "paid",
            "subscription_starts_at": "2026-01-01T00:00",
            "subscription_ends_at": "2025-01-01T00:00",
            "transfer_limit": "3",
        },
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "The subscription cannot end before it starts." in html
    assert 'value="Initech"' in html
    assert not Organization.objects.filter(name="Initech").exists()
    response = world.client("super_admin").post(
        "/organizations/new/",
        {
            "name": "Initech",
            "slug": "acme",
            "edition": "paid",
            "subscription_starts_at": "2026-01-01T00:00",
            "subscription_ends_at": "2027-01-01T00:00",
            "transfer_limit": "3",
        },
    )
    assert "The slug &#x27;acme&#x27; is taken." in response.content.decode()


def test_organization_search_by_name_slug_and_uuid(world):
    client = world.client("super_admin")
    assert "Globex" not in client.get("/organizations/?q=acm").content.decode()
    html = client.get(f"/organizations/?q={world.globex.uuid}").content.decode()
    assert "Globex" in html and "Acme Corp" not in html
    assert "Acme Corp" in client.get("/organizations/?q=ACME").content.decode()


@pytest.mark.parametrize(("role", "status"), [("super_admin", 302), ("org_admin", 403), ("outsider", 404)])
def test_edit_subscription(world, role, status):
    ends = world.acme.subscription_ends_at
    response = world.client(role).post(
        "/organizations/acme/edit/",
        {
            "name": "Acme Corporation",
            "slug": "acme",
            "edition": "paid",
            "subscription_starts_at": "2026-01-01T00:00",
            "subscription_ends_at": "2030-06-30T12:00",
            "transfer_limit": "3",
        },
    )
    assert response.status_code == status
    world.acme.refresh_from_db()
    if status == 302:
        assert world.acme.name == "Acme Corporation"
        assert world.acme.subscription_ends_at.isoformat() == "2030-06-30T12:00:00+00:00"
    else:
        assert world.acme.name == "Acme Corp" and world.acme.subscription_ends_at == ends


@pytest.mark.parametrize(("role", "status"), [("super_admin", 302), ("co_admin", 403), ("partner", 404)])
def test_suspend_and_resume(world, role, status):
    client = world.client(role)
    assert client.post("/organizations/acme/status/", {"status": "suspended"}).status_code == status
    world.acme.refresh_from_db()
    assert world.acme.is_suspended is (status == 302)
    if status == 302:
        assert Agent().validate(world.machine_text)["code"] == "SUSPENDED"
        client.post("/organizations/acme/status/", {"status": "active"})
        world.acme.refresh_from_db()
        assert not world.acme.is_suspended
        assert Agent().validate(world.machine_text)["code"] == "VALID"


# Environments and machines ------------------------------------------------------------------------------


def test_add_environment_and_duplicate_name_error(world):
    client = world.client("co_admin")
    assert client.post("/organizations/acme/environments/add/", {"name": "Sandbox"}).status_code == 302
    assert Environment.objects.filter(organization=world.acme, name="Sandbox").exists()
    response = client.post("/organizations/acme/environments/add/", {"name": "sandbox"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "already has an environment named sandbox" in html and 'value="sandbox"' in html


def test_outsider_cannot_add_an_environment(world):
    assert world.client("outsider").post("/organizations/acme/environments/add/", {"name": "X"}).status_code == 404
    assert not Environment.objects.filter(name="X").exists()


def test_disable_delete_and_reattach_an_environment(world):
    client = world.client("org_admin")
    url = f"/organizations/acme/environments/{world.production.uuid}/status/"
    client.post(url, {"status": "disabled", "confirm": "yes"})
    assert Agent().validate(world.machine_text)["code"] == "ENVIRONMENT_DISABLED"
    client.post(url, {"status": "enabled"})
    assert Agent().validate(world.machine_text)["code"] == "VALID"
    confirm = client.get(url).content.decode()
    assert "Delete the environment Production?" in confirm and "ENVIRONMENT_DISABLED" in confirm
    client.post(url, {"status": "deleted", "confirm": "yes"})
    world.production.refresh_from_db()
    assert world.production.status == "deleted"
    assert "Re-attach" in client.get("/organizations/acme/").content.decode()
    response = client.post(url, {"status": "enabled"}, follow=True)
    assert "Environment Production re-attached." in response.content.decode()
    world.production.refresh_from_db()
    assert world.production.status == "enabled"


@pytest.mark.parametrize("status", ["disabled", "deleted"])
def test_disabling_or_deleting_an_environment_asks_first(world, status):
    client = world.client("org_admin")
    url = f"/organizations/acme/environments/{world.production.uuid}/status/"
    response = client.post(url, {"status": status})
    assert response.status_code == 200
    html = response.content.decode()
    assert "ENVIRONMENT_DISABLED" in html and 'name="confirm" value="yes"' in html
    world.production.refresh_from_db()
    assert world.production.status == "enabled"
    assert Agent().validate(world.machine_text)["code"] == "VALID"
    table = client.get("/organizations/acme/").content.decode()
    assert table.count("data-confirm=") == 2  # Disable and Delete ask in a <dialog> first


def test_outsider_cannot_change_an_environment(world):
    url = f"/organizations/acme/environments/{world.production.uuid}/status/"
    assert world.client("outsider").post(url, {"status": "deleted"}).status_code == 404
    world.production.refresh_from_db()
    assert world.production.status == "enabled"


def test_machines_list_shows_the_fingerprint(world):
    html = world.client("co_admin").get("/organizations/acme/machines/").content.decode()
    assert "acme-srv01" in html and "00:1a:2b:3c:4d:5e" in html and "4.4.2" in html
    assert world.machine.uid[:14] in html and "UTC" in html


def test_detach_frees_the_key(world):
    client = world.client("co_admin")
    url = f"/organizations/acme/machines/{world.machine.uid}/detach/"
    confirm = client.get(url).content.decode()
    assert "1 key bound to it will be released" in confirm
    assert client.post(url).status_code == 302
    world.machine.refresh_from_db()
    assert world.machine.organization is None
    world.machine_key.refresh_from_db()
    assert world.machine_key.machine is None
    other = Agent(fingerprint={**FINGERPRINT, "hostname": "replacement"})
    assert other.activate(world.machine_text)["code"] == "VALID"
    assert ActivationEvent.objects.filter(license=world.machine_key, event="detach").exists()


def test_outsider_cannot_detach(world):
    url = f"/organizations/acme/machines/{world.machine.uid}/detach/"
    assert world.client("outsider").post(url).status_code == 404
    world.machine.refresh_from_db()
    assert world.machine.organization_id == world.acme.pk


def test_machine_of_another_organization_is_not_found(world):
    agent = Agent(fingerprint={**FINGERPRINT, "hostname": "globex-01"})
    assert agent.activate(world.globex_text)["code"] == "VALID"
    machine = Machine.objects.get(hostname="globex-01")
    assert world.client("org_admin").get(f"/organizations/acme/machines/{machine.uid}/detach/").status_code == 404
    assert world.client("org_admin").post(f"/organizations/globex/machines/{machine.uid}/detach/").status_code == 404


def test_set_primary_machine(world):
    client = world.client("org_admin")
    client.post(f"/organizations/acme/machines/{world.machine.uid}/primary/", {"is_primary": "on"})
    world.machine.refresh_from_db()
    assert world.machine.is_primary
    client.post(f"/organizations/acme/machines/{world.machine.uid}/primary/", {})
    world.machine.refresh_from_db()
    assert not world.machine.is_primary


# Licenses -----------------------------------------------------------------------------------------------


def _shown_key(response) -> str:
    return re.search(r'<code class="secret" id="[a-z-]+"[^>]*>([^<]+)</code>', response.content.decode()).group(1)


def test_issue_a_machine_key_shows_it_once_and_it_activates(world):
    response = world.client("co_admin").post(
        "/organizations/acme/licenses/issue/",
        {"environment": str(world.production.uuid), "description": "Agent 2"},
        follow=True,
    )
    assert response.status_code == 200 and response.redirect_chain[0][1] == 302
    assert response["Cache-Control"] == "no-store, private"
    key = _shown_key(response)
    assert key.startswith("LP1M-")
    verdict = Agent(fingerprint={**FINGERPRINT, "hostname": "acme-srv02"}).activate(key)
    assert verdict["code"] == "VALID" and verdict["license"]["environment"] == "Production"
    listing = world.client("co_admin").get("/organizations/acme/licenses/").content.decode()
    assert "Agent 2" in listing and key not in listing


def test_issue_needs_an_environment_of_this_organization(world):
    response = world.client("org_admin").post(
        "/organizations/acme/licenses/issue/", {"environment": str(world.globex_production.uuid)}
    )
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()


def test_outsider_cannot_issue(world):
    before = LicenseKey.objects.count()
    response = world.client("outsider").post(
        "/organizations/acme/licenses/issue/", {"environment": str(world.production.uuid)}
    )
    assert response.status_code == 404 and LicenseKey.objects.count() == before


def test_revoke_with_a_reason(world):
    client = world.client("org_admin")
    url = f"/keys/{world.machine_key.public_id}/revoke/"
    confirm = client.get(url).content.decode()
    assert "Revoking is final" in confirm and "REVOKED" in confirm
    response = client.post(url, {"reason": ""})
    assert "This field is required." in response.content.decode()
    assert client.post(url, {"reason": "Laptop stolen"}).status_code == 302
    world.machine_key.refresh_from_db()
    assert world.machine_key.status == "revoked" and world.machine_key.revocation_reason == "Laptop stolen"
    assert Agent().validate(world.machine_text)["code"] == "REVOKED"
    history = client.get(f"/keys/{world.machine_key.public_id}/").content.decode()
    assert "Revoked" in history and "Laptop stolen" in history and "Activated" in history


@pytest.mark.parametrize("role", ["outsider", "partner"])
def test_others_cannot_revoke(world, role):
    assert world.client(role).post(f"/keys/{world.machine_key.public_id}/revoke/", {"reason": "x"}).status_code == 404
    world.machine_key.refresh_from_db()
    assert world.machine_key.status == "active"


def test_show_key_is_audited(world):
    response = world.client("co_admin").post(f"/keys/{world.server_key.public_id}/reveal/")
    assert _shown_key(response) == world.server_text
    assert response["Cache-Control"] == "no-store, private"
    event = AuditEvent.objects.get(action="license.reveal")
    assert event.actor_label == "acme-coadmin" and event.organization_id == world.acme.pk
    assert world.client("co_admin").get(f"/keys/{world.server_key.public_id}/reveal/").status_code == 405


def test_partner_shows_their_own_temporary_key_only(world):
    client = world.client("partner")
    assert _shown_key(client.post(f"/keys/{world.temporary_key.public_id}/reveal/")) == world.temporary_text
    assert client.post(f"/keys/{world.machine_key.public_id}/reveal/").status_code == 404
    assert AuditEvent.objects.filter(action="license.reveal").count() == 1


# Temporary keys ---------------------------------------------------------------------------------------------


def test_super_admin_generates_temporary_keys(world):
    client = world.client("super_admin")
    response = client.post(
        "/organizations/acme/temporary-keys/generate/",
        {"ttl": "3600", "issued_to": str(world.users["partner"].pk)},
        follow=True,
    )
    key = _shown_key(response)
    created = LicenseKey.objects.get(
        kind="temporary", issued_to=world.users["partner"], expires_at__lt=timezone.now() + timedelta(hours=2)
    )
    assert abs((created.expires_at - created.issued_at) - timedelta(hours=1)) < timedelta(seconds=2)
    assert key.startswith("LP1T-")
    assert Agent().validate(key)["code"] == "VALID"  # the agent's machine is registered to Acme
    second = _shown_key(
        client.post("/organizations/acme/temporary-keys/generate/", {"ttl": str(7 * 86400)}, follow=True)
    )
    assert second != key
    assert LicenseKey.objects.filter(kind="temporary", status="active").count() == 3  # many at once


def test_ttl_must_be_one_of_the_choices(world):
    response = world.client("super_admin").post("/organizations/acme/temporary-keys/generate/", {"ttl": "60"})
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()


def test_temporary_keys_list_active_first_then_latest_ended(world):
    from licenses.services import license_issue

    admin = world.users["super_admin"]
    soon, _ = license_issue(
        organization=world.acme, kind=Kind.TEMPORARY, actor=admin, ttl=timedelta(hours=1), description="soon"
    )
    ended, _ = license_issue(
        organization=world.acme, kind=Kind.TEMPORARY, actor=admin, ttl=timedelta(hours=1), description="old"
    )
    LicenseKey.objects.filter(pk=ended.pk).update(
        issued_at=timezone.now() - timedelta(hours=3), expires_at=timezone.now() - timedelta(hours=2)
    )
    html = world.client("super_admin").get("/organizations/acme/temporary-keys/").content.decode()
    active_part, ended_part = html.split("Latest ended")
    assert active_part.index(str(soon.public_id)[:8]) < active_part.index(str(world.temporary_key.public_id)[:8])
    assert "min" in active_part  # time left
    assert str(ended.public_id)[:8] in ended_part and str(ended.public_id)[:8] not in active_part


@pytest.mark.parametrize(
    ("role", "status"), [("org_admin", 403), ("co_admin", 403), ("partner", 404), ("outsider", 404)]
)
def test_only_super_admins_generate_temporary_keys(world, role, status):
    before = LicenseKey.objects.filter(kind="temporary").count()
    assert (
        world.client(role).post("/organizations/acme/temporary-keys/generate/", {"ttl": "3600"}).status_code == status
    )
    assert LicenseKey.objects.filter(kind="temporary").count() == before


# Server access keys ------------------------------------------------------------------------------------------


def test_generate_server_key_records_the_requester(world):
    expires = (timezone.now() + timedelta(days=30)).date()
    response = world.client("co_admin").post(
        "/organizations/acme/server-keys/generate/",
        {"machine_name": "ACME-SRV01", "expires_on": expires.isoformat(), "description": "Reports"},
        follow=True,
    )
    key = _shown_key(response)
    created = LicenseKey.objects.get(kind="server", description="Reports")
    assert created.requested_by == world.users["co_admin"]
    verdict = Agent().activate(key)
    assert verdict["code"] == "VALID"
    assert verdict["license"]["expires_at"] == f"{expires + timedelta(days=1)}T00:00:00Z"


def test_server_key_form_errors(world):
    response = world.client("co_admin").post(
        "/organizations/acme/server-keys/generate/", {"machine_name": "box", "expires_on": "2000-01-01"}
    )
    html = response.content.decode()
    assert response.status_code == 400 and "The expiration date is in the past." in html and 'value="box"' in html


def test_co_admin_edits_a_key_another_admin_created(world):
    url = f"/keys/{world.server_key.public_id}/edit/"
    client = world.client("co_admin")
    new_date = (timezone.now() + timedelta(days=10)).date()
    assert (
        client.post(
            url, {"description": "Edited", "status": "inactive", "expires_on": new_date.isoformat()}
        ).status_code
        == 302
    )
    world.server_key.refresh_from_db()
    assert world.server_key.description == "Edited" and world.server_key.status == "inactive"
    assert world.server_key.machine_name == "acme-srv01"
    assert Agent().activate(world.server_text)["code"] == "SUSPENDED"


def test_a_server_keys_new_date_cannot_be_in_the_past_but_an_ended_key_keeps_its_own(world):
    url = f"/keys/{world.server_key.public_id}/edit/"
    client = world.client("org_admin")
    ends = world.server_key.expires_at
    events = AuditEvent.objects.count()
    response = client.post(url, {"description": "Moved back", "status": "active", "expires_on": "2000-01-01"})
    assert response.status_code == 400 and "The expiration date is in the past." in response.content.decode()
    world.server_key.refresh_from_db()
    assert (world.server_key.expires_at, world.server_key.description) == (ends, "")
    assert AuditEvent.objects.count() == events  # nothing changed, nothing recorded
    # A key that has already ended: its description can still be edited, its date left as it is.
    ended = timezone.now() - timedelta(days=3)
    LicenseKey.objects.filter(pk=world.server_key.pk).update(
        expires_at=ended.replace(hour=0, minute=0, second=0, microsecond=0)
    )
    kept = (ended - timedelta(days=1)).date().isoformat()
    assert client.post(url, {"description": "Ended", "status": "active", "expires_on": kept}).status_code == 302
    world.server_key.refresh_from_db()
    assert world.server_key.description == "Ended"


def test_outsider_cannot_edit_a_server_key(world):
    url = f"/keys/{world.server_key.public_id}/edit/"
    assert (
        world.client("outsider")
        .post(url, {"description": "x", "status": "inactive", "expires_on": "2030-01-01"})
        .status_code
        == 404
    )


def test_bulk_delete_asks_first_then_deletes(world):
    from licenses.services import license_issue

    second, _ = license_issue(
        organization=world.acme,
        kind=Kind.SERVER,
        actor=world.users["org_admin"],
        machine_name="b",
        expires_on=timezone.now().date(),
    )
    client = world.client("co_admin")
    ids = [str(world.server_key.public_id), str(second.public_id)]
    confirm = client.post("/organizations/acme/server-keys/delete/", {"keys": ids})
    assert confirm.status_code == 200 and "Delete 2 server access keys?" in confirm.content.decode()
    assert LicenseKey.objects.visible().filter(kind="server").count() == 2
    response = client.post("/organizations/acme/server-keys/delete/", {"keys": ids, "confirm": "yes"}, follow=True)
    assert "2 server access keys deleted." in response.content.decode()
    assert LicenseKey.objects.visible().filter(kind="server").count() == 0
    assert Agent().activate(world.server_text)["code"] == "REVOKED"


def test_bulk_delete_without_selection_says_so(world):
    response = world.client("co_admin").post("/organizations/acme/server-keys/delete/", {}, follow=True)
    assert "Select at least one key." in response.content.decode()


def test_outsider_cannot_bulk_delete_acme_keys(world):
    ids = [str(world.server_key.public_id)]
    world.client("outsider").post("/organizations/globex/server-keys/delete/", {"keys": ids, "confirm": "yes"})
    assert (
        world.client("outsider")
        .post("/organizations/acme/server-keys/delete/", {"keys": ids, "confirm": "yes"})
        .status_code
        == 404
    )
    world.server_key.refresh_from_db()
    assert world.server_key.deleted_at is None and world.server_key.status == "active"


# Trial key ---------------------------------------------------------------------------------------------------


def test_org_admin_requests_a_trial_key(world):
    ends = world.acme.subscription_ends_at
    response = world.client("org_admin").post("/organizations/acme/trial/", follow=True)
    key = _shown_key(response)
    html = response.content.decode()
    assert "Trial license of Acme Corp: paid-edition features until" in html and "29 days left" in html
    verdict = Agent(fingerprint={**FINGERPRINT, "hostname": "trial-box"}).activate(key)
    assert verdict["code"] == "VALID" and verdict["license"]["edition"] == "trial"
    assert verdict["license"]["capabilities"]["save_data_configuration"] is True
    world.acme.refresh_from_db()
    assert world.acme.subscription_ends_at == ends


@pytest.mark.parametrize(("role", "status"), [("co_admin", 403), ("outsider", 404), ("partner", 404)])
def test_others_cannot_request_a_trial_key(world, role, status):
    before = LicenseKey.objects.filter(kind="trial").count()
    assert world.client(role).post("/organizations/acme/trial/").status_code == status
    assert LicenseKey.objects.filter(kind="trial").count() == before


# Audit ------------------------------------------------------------------------------------------------------


def test_audit_tab_filters(world):
    client = world.client("org_admin")
    html = client.get("/organizations/acme/audit/?action=license.issue").content.decode()
    assert "license.issue" in html and "environment.create</code>" not in html
    assert "environment.create" in client.get("/organizations/acme/audit/?action=environment.").content.decode()
    html = client.get("/organizations/acme/audit/?actor=acme-admin").content.decode()
    assert "acme-admin" in html and "system (command line)" not in html
    response = client.get("/organizations/acme/audit/?since=2030-01-02&until=2030-01-01")
    assert "The end date is before the start date." in response.content.decode()


def test_audit_csv_streams_only_this_organizations_events(world):
    response = world.client("co_admin").get("/organizations/acme/audit.csv?action=license.")
    assert response.streaming and response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode()
    lines = body.strip().splitlines()
    assert lines[0].startswith("time_utc,actor,action")
    assert all(",license." in line for line in lines[1:]) and len(lines) >= 5
    assert str(world.globex_key.public_id) not in body


def test_audit_csv_neutralises_formulas(world):
    from environments.services import environment_create

    environment_create(organization=world.acme, actor=world.users["org_admin"], name="=HYPERLINK(1)")
    body = b"".join(world.client("co_admin").get("/organizations/acme/audit.csv").streaming_content).decode()
    assert ",'=HYPERLINK(1)," in body


# Manual activation -------------------------------------------------------------------------------------------


def test_manual_activation_gives_a_code_and_records_it(world):
    from licenses.services import license_issue

    license_key, text = license_issue(
        organization=world.acme, kind=Kind.MACHINE, actor=world.users["org_admin"], environment=world.production
    )
    uid = "AB" * 32
    typed = " ".join(uid[i : i + 8] for i in range(0, 64, 8)).replace(" ", "-", 3)
    response = world.client("co_admin").post("/activate/", {"license_key": f"  {text}\n", "machine_uid": typed})
    assert response.status_code == 200
    token = _shown_key(response)
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
    assert _shown_key(response).count(".") == 2


# Dashboard ----------------------------------------------------------------------------------------------------


def test_dashboard_numbers_and_chart(world):
    html = world.client("super_admin").get("/").content.decode()
    assert "<svg" in html and "Activations per day" in html
    assert "1 activation" in html  # the agent's activation, today
    stat = r'data-testid="stat-organizations">\s*<span class="stat-label">Organizations</span>\s*'
    assert re.search(stat + r'<a class="stat-value" href="/organizations/">2<', html)
    admin_html = world.client("org_admin").get("/").content.decode()
    assert re.search(r'<a class="stat-value" href="/organizations/acme/">1<', admin_html)
    assert "Globex" not in admin_html


def test_dashboard_counts_keys_expiring_within_30_days(world):
    from licenses.selectors import dashboard_numbers

    now = timezone.now()
    numbers = dashboard_numbers(Organization.objects.all(), now, everything=True)
    # The temporary key (4 hours) expires soon; the trial key (30 days) too; server key (90 days) not.
    assert numbers.expiring_soon == 2
    assert numbers.active_keys == {"Machine key": 2, "Temporary key": 1, "Server access key": 1, "Trial key": 1}
    assert sum(count for _, count in numbers.activations_per_day) == 1

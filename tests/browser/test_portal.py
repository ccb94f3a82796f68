"""Each workflow of the portal walked as a real user in Chromium, and the keys it hands out tried
against the agent API over HTTP: the verdict is the one the page promised."""

from __future__ import annotations

import re

import jwt
import pytest
from playwright.sync_api import expect

from tests.conftest import FINGERPRINT

pytestmark = pytest.mark.browser

OTHER_HOST = {**FINGERPRINT, "hostname": "acme-srv02"}


def test_sign_in_dashboard_and_sign_out(world, portal):
    page = portal.sign_in("root")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.get_by_test_id("stat-organizations")).to_contain_text("2")
    expect(page.locator("svg.chart-svg rect")).to_have_count(30)
    expect(page.get_by_test_id("audit-table")).to_contain_text("Key activated")
    expect(page.get_by_role("link", name="See all audit events")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    portal.open("/organizations/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/organizations/"))


def test_wrong_password_then_password_reset(world, portal):
    from django.core import mail

    user = world.users["org_admin"]
    user.email = "admin@acme.example"
    user.save()
    page = portal.open("/accounts/login/")
    page.get_by_label("Username").fill("acme-admin")
    page.get_by_label("Password").fill("not it")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("correct username and password")
    expect(page.get_by_label("Username")).to_have_value("acme-admin")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill("admin@acme.example")
    page.get_by_role("button", name="Send the link").click()
    expect(page.get_by_role("heading", name="Check your e-mail")).to_be_visible()
    link = re.search(r"https?://\S+/accounts/reset/\S+/", mail.outbox[-1].body).group(0)
    page.goto(portal.url + link[link.index("/accounts/") :])
    page.locator("#id_new_password1").fill("a brand new passphrase 42")
    page.locator("#id_new_password2").fill("a brand new passphrase 42")
    page.get_by_role("button", name="Set the password").click()
    expect(page.get_by_role("heading", name="Password changed")).to_be_visible()
    portal.sign_in("acme-admin", "a brand new passphrase 42")


def test_organizations_create_search_suspend_resume(world, portal):
    page = portal.sign_in("root")
    page.get_by_role("link", name="Organizations", exact=True).click()
    page.get_by_role("link", name="New organization").click()
    page.get_by_label("Name").fill("Initech")
    page.get_by_label("Subscription ends (UTC)").fill("2020-01-01T00:00")
    page.get_by_role("button", name="Create organization").click()
    expect(page.locator(".field-invalid")).to_contain_text("cannot end before it starts")
    expect(page.get_by_label("Name")).to_have_value("Initech")
    page.get_by_label("Subscription ends (UTC)").fill("2031-01-01T00:00")
    page.get_by_role("button", name="Create organization").click()
    expect(page.get_by_role("heading", name=re.compile("Initech"))).to_be_visible()
    expect(page.get_by_text("Organization Initech created.")).to_be_visible()
    expect(page.locator(".subscription")).to_contain_text("2031-01-01 00:00 UTC")

    portal.open("/organizations/")
    page.keyboard.press("/")
    page.keyboard.type(str(world.globex.uuid))
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("organization-table")).to_contain_text("Globex")
    expect(page.get_by_test_id("organization-table")).not_to_contain_text("Acme")

    portal.open("/organizations/acme/")
    page.get_by_role("link", name="Suspend").click()
    expect(page.get_by_text("answer SUSPENDED")).to_be_visible()
    page.get_by_role("button", name="Suspend Acme Corp").click()
    expect(page.get_by_text("Organization Acme Corp suspended.")).to_be_visible()
    assert portal.agent("validate", world.machine_text)["code"] == "SUSPENDED"
    page.get_by_role("link", name="Resume").click()
    page.get_by_role("button", name="Resume Acme Corp").click()
    expect(page.get_by_text("Organization Acme Corp resumed.")).to_be_visible()  # the POST has been answered
    assert portal.agent("validate", world.machine_text)["code"] == "VALID"


def test_environments_and_detach(world, portal):
    page = portal.sign_in("acme-admin")
    page.get_by_role("link", name="Acme Corp").first.click()
    page.get_by_label("Environment name").fill("production")
    page.get_by_role("button", name="Add environment").click()
    expect(page.locator(".field-invalid")).to_contain_text("already has an environment named production")
    page.get_by_label("Environment name").fill("Sandbox")
    page.get_by_role("button", name="Add environment").click()
    expect(page.get_by_text("Environment Sandbox added.")).to_be_visible()

    row = page.locator('tr[data-environment="Production"]')
    row.get_by_role("button", name="Disable…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("ENVIRONMENT_DISABLED")
    dialog.get_by_role("button", name="Cancel").click()  # asked first: nothing happened
    expect(dialog).to_be_hidden()
    assert portal.agent("validate", world.machine_text)["code"] == "VALID"
    row.get_by_role("button", name="Disable…").click()
    page.get_by_role("dialog").get_by_role("button", name="Disable Production").click()
    expect(page.get_by_text("Environment Production disabled.")).to_be_visible()
    assert portal.agent("validate", world.machine_text)["code"] == "ENVIRONMENT_DISABLED"
    page.locator('tr[data-environment="Production"]').get_by_role("button", name="Enable").click()
    page.locator('tr[data-environment="Sandbox"]').get_by_role("button", name="Delete…").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete Sandbox").click()
    page.locator('tr[data-environment="Sandbox"]').get_by_role("button", name="Re-attach").click()
    expect(page.get_by_text("Environment Sandbox re-attached.")).to_be_visible()

    page.locator('tr[data-environment="Production"]').get_by_role("link", name="Production").click()
    machines = page.get_by_test_id("machine-table")
    expect(machines).to_contain_text("acme-srv01")
    expect(machines).to_contain_text("00:1a:2b:3c:4d:5e")
    assert portal.agent("activate", world.machine_text, OTHER_HOST)["code"] == "FINGERPRINT_MISMATCH"
    machines.get_by_role("link", name="Detach…").click()
    expect(page.get_by_text("will be released and become free to activate again")).to_be_visible()
    page.get_by_role("button", name=re.compile("^Detach")).click()
    expect(page.get_by_text("can be activated again")).to_be_visible()
    assert portal.agent("activate", world.machine_text, OTHER_HOST)["code"] == "VALID"


def test_issue_copy_activate_history_and_revoke(world, portal):
    page = portal.sign_in("acme-admin")  # not a co-admin: they do not issue machine keys
    portal.open("/organizations/acme/licenses/")
    page.get_by_label("Description").fill("Agent 7")
    page.get_by_role("button", name="Issue machine key").click()
    expect(page.get_by_test_id("issued-key")).to_contain_text("Machine key issued")
    key = portal.copied()
    assert key.startswith("LP1M-") and len(key) == 156
    verdict = portal.agent("activate", key, OTHER_HOST)
    assert verdict["code"] == "VALID" and verdict["license"]["environment"] == "Production"

    portal.open("/organizations/acme/licenses/")
    page.get_by_test_id("license-table").locator("tr", has_text="Agent 7").get_by_role("link").click()
    expect(page.get_by_test_id("history-table")).to_contain_text("Activated")
    page.get_by_role("button", name="Show key").click()
    assert portal.copied() == key
    page.go_back()
    page.get_by_role("link", name="Revoke…").click()
    expect(page.get_by_text("Revoking is final")).to_be_visible()
    page.get_by_role("button", name="Revoke the key").click()
    expect(page.locator(".field-invalid")).to_contain_text("This field is required.")
    page.get_by_label("Reason").fill("Decommissioned")
    page.get_by_role("button", name="Revoke the key").click()
    expect(page.get_by_test_id("history-table")).to_contain_text("Decommissioned")
    assert portal.agent("validate", key, OTHER_HOST)["code"] == "REVOKED"
    portal.open("/organizations/acme/audit/")
    page.get_by_label("Action").select_option("license.reveal")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_test_id("audit-table")).to_contain_text("acme-admin")


def test_temporary_keys(world, portal):
    page = portal.sign_in("root")
    portal.open("/organizations/acme/")
    page.get_by_role("link", name="Temporary keys").click()
    expect(page.get_by_label("Time to live").locator("option")).to_have_text(
        ["1 hour", "4 hours", "8 hours", "1 day", "3 days", "7 days"]
    )
    page.get_by_label("Time to live").select_option(label="1 hour")
    page.get_by_label("Description").fill("Support call")
    page.get_by_role("button", name="Generate").click()
    key = portal.copied()
    assert key.startswith("LP1T-")
    active = page.get_by_test_id("temporary-active-table")
    expect(active.locator("tbody tr").first).to_contain_text("Support call")
    expect(active.locator("tbody tr").first).to_contain_text(re.compile(r"(59|60) min|1 h"))
    verdict = portal.agent("validate", key)  # the agent's machine is registered to Acme
    assert verdict["code"] == "VALID" and verdict["license"]["capabilities"]["save_data_configuration"] is False
    assert portal.agent("validate", key, {**FINGERPRINT, "hostname": "stranger"})["code"] == "MACHINE_NOT_REGISTERED"
    page.get_by_role("button", name="Generate").click()
    expect(active.locator("tbody tr")).to_have_count(3)  # many at once


def test_server_access_keys(world, portal):
    page = portal.sign_in("acme-coadmin")
    portal.open("/organizations/acme/server-keys/")
    page.get_by_label("Machine name").fill("ACME-SRV02")
    page.get_by_label("Expires (UTC)").fill("2000-01-01")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator(".field-invalid")).to_contain_text("in the past")
    expect(page.get_by_label("Machine name")).to_have_value("ACME-SRV02")
    page.get_by_label("Expires (UTC)").fill("2031-12-31")
    page.get_by_label("Description").fill("Reporting")
    page.get_by_role("button", name="Generate").click()
    key = portal.copied()
    verdict = portal.agent("activate", key, OTHER_HOST)
    assert verdict["code"] == "VALID" and verdict["license"]["expires_at"] == "2032-01-01T00:00:00Z"

    table = page.get_by_test_id("server-key-table")
    table.locator("tr", has_text="acme-srv01").get_by_role("link", name="Edit").click()  # the org admin's key
    page.get_by_label("Inactive").check()
    page.get_by_label("Description").fill("Paused")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("server-key-table")).to_contain_text("Paused")
    assert portal.agent("activate", world.server_text)["code"] == "SUSPENDED"

    delete = page.get_by_role("button", name="Delete selected…")
    expect(delete).to_be_disabled()
    page.get_by_label("Select all keys on this page").check()
    expect(page.get_by_text("2 selected")).to_be_visible()
    delete.click()
    expect(page.get_by_role("heading", name="Delete 2 server access keys?")).to_be_visible()
    page.get_by_role("button", name="Delete 2 keys").click()
    expect(page.get_by_text("2 server access keys deleted.")).to_be_visible()
    assert portal.agent("validate", key, OTHER_HOST)["code"] == "REVOKED"


def test_trial_key(world, portal):
    from licenses.stopgaps import stopgap_grant

    stopgap_grant(organization=world.acme, actor=None, reason="the world's trial key used the first")
    page = portal.sign_in("acme-admin")
    portal.open("/organizations/acme/")
    page.get_by_role("link", name="Trial key").click()
    page.get_by_role("button", name="Request trial license").click()
    expect(page.get_by_test_id("trial-banner")).to_contain_text("paid-edition features until")
    key = portal.copied()
    verdict = portal.agent("activate", key, OTHER_HOST)
    assert verdict["code"] == "VALID" and verdict["license"]["edition"] == "trial"


def test_manual_activation(world, portal, live_server):
    from environments.fingerprint import fingerprint_parse
    from licenses.models import Kind
    from licenses.services import license_issue

    _, key = license_issue(organization=world.acme, kind=Kind.MACHINE, actor=None, environment=world.production)
    uid = fingerprint_parse(OTHER_HOST).uid
    typed = "-".join(uid[i : i + 16] for i in range(0, 64, 16)).upper()
    page = portal.sign_in("acme-admin")
    page.get_by_role("link", name="Manual activation").first.click()
    page.get_by_label("License key").fill(world.globex_text)
    page.get_by_label("Machine UID").fill(typed)
    page.get_by_role("button", name="Get activation code").click()
    expect(page.locator(".field-invalid")).to_contain_text("No such license key.")
    expect(page.get_by_label("Machine UID")).to_have_value(typed)
    page.get_by_label("License key").fill(key)
    page.get_by_role("button", name="Get activation code").click()
    code = portal.copied()
    jwks = jwt.PyJWKClient(live_server.url + "/api/v1/jwks")
    claims = jwt.decode(
        code, jwks.get_signing_key_from_jwt(code).key, algorithms=["EdDSA"], options={"verify_aud": False}
    )
    assert claims["machine_uid"] == uid
    assert portal.agent("validate", key, OTHER_HOST)["code"] == "VALID"


def test_partner_sees_and_copies_only_their_temporary_key(world, portal):
    page = portal.sign_in("partner")
    expect(page.get_by_role("heading", name="My temporary keys")).to_be_visible()
    page.get_by_role("button", name="Show key").click()
    assert portal.copied() == world.temporary_text
    expect(page.get_by_role("link", name="Manual activation")).to_have_count(0)
    response = page.goto(portal.url + "/organizations/acme/")
    assert response.status == 404


def test_django_admin_is_for_super_admins(world, portal):
    page = portal.sign_in("acme-admin")
    page.goto(portal.url + "/admin/")
    expect(page).to_have_url(re.compile(r"/admin/login/"))
    expect(page.get_by_text("not authorized to access this page")).to_be_visible()
    portal.open("/").get_by_role("button", name="Sign out").click()
    portal.sign_in("root")
    page.goto(portal.url + "/admin/audit/auditevent/")
    expect(page.get_by_role("link", name="Add audit event")).to_have_count(0)
    expect(page.locator("#result_list")).to_contain_text("license.issue")


def test_phone_layout_has_no_sideways_scroll(world, portal):
    page = portal.sign_in("acme-admin")
    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/", "/organizations/acme/", "/organizations/acme/server-keys/", "/activate/"):
        portal.open(path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (path, overflow)

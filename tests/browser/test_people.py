"""People in Chromium: invite -> accept -> sign in with a TOTP code; deactivation signs someone out at
once; single sign-on through a real OpenID provider (node's oidc-provider on loopback)."""

from __future__ import annotations

import base64
import re
import time

import pytest
from django_otp.oath import TOTP
from playwright.sync_api import expect

from tests.support.oidc_provider import oidc_provider

pytestmark = pytest.mark.browser
NEW_PASSWORD = "a fresh passphrase for carol 5"


def code_from_secret(secret: str, step_ahead: int = 0) -> str:
    """What an authenticator app shows for the secret that the enrolment page prints under its QR code."""
    return f"{TOTP(base64.b32decode(secret), drift=step_ahead).token():06d}"


def sign_in_with_password(page, portal, username: str, password: str):
    page.goto(portal.url + "/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_invite_accept_and_sign_in_with_a_totp_code(world, portal, settings, browser):
    from django.core import mail

    settings.TWO_FACTOR_REQUIRED_FOR_EVERYONE = True
    settings.TWO_FACTOR_REQUIRED_FOR_SUPER_ADMINS = True
    # The org admin turns two-factor sign-in on when first asked, then invites a colleague.
    page = portal.page
    sign_in_with_password(page, portal, "acme-admin", "correct horse battery staple")
    expect(page.get_by_role("heading", name="Set up two-factor sign-in")).to_be_visible()
    expect(page.get_by_test_id("qr-code").locator("svg")).to_be_visible()
    admin_secret = page.get_by_test_id("totp-secret").inner_text()
    page.get_by_label("Code from the app").fill(code_from_secret(admin_secret))
    page.get_by_role("button", name="Turn on").click()
    expect(page.get_by_test_id("recovery-codes").locator("li")).to_have_count(10)
    page.get_by_role("link", name="I have saved them").click()
    page.get_by_role("link", name="People").click()
    expect(page.get_by_test_id("user-table")).to_contain_text("acme-coadmin")
    page.get_by_role("link", name="Invite someone").click()
    page.get_by_label("Email").fill("carol@acme.example")
    page.get_by_label("Role").select_option("co_admin")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_role("status")).to_contain_text("Invitation sent to carol@acme.example")
    expect(page.get_by_test_id("invitation-table")).to_contain_text("carol@acme.example")
    link = re.search(r"https?://\S+(/accounts/invitation/\S+/)", mail.outbox[-1].body).group(1)

    # Carol accepts in her own browser, enrols, signs out, and signs in again with a code.
    carol = browser.new_context().new_page()
    carol.set_default_timeout(5000)
    carol.goto(portal.url + link)
    expect(carol.get_by_text("You are invited as")).to_contain_text("Acme Corp")
    carol.get_by_label("Username").fill("carol")
    carol.locator("#id_password1").fill(NEW_PASSWORD)
    carol.locator("#id_password2").fill(NEW_PASSWORD)
    carol.get_by_role("button", name="Create my account").click()
    expect(carol.get_by_role("heading", name="Set up two-factor sign-in")).to_be_visible()
    secret = carol.get_by_test_id("totp-secret").inner_text()
    carol.get_by_label("Code from the app").fill(code_from_secret(secret))
    carol.get_by_role("button", name="Turn on").click()
    carol.get_by_role("link", name="I have saved them").click()
    expect(carol.get_by_role("heading", name="Dashboard")).to_be_visible()
    carol.get_by_role("button", name="Sign out").click()
    sign_in_with_password(carol, portal, "carol", NEW_PASSWORD)
    expect(carol.get_by_role("heading", name="Second factor")).to_be_visible()
    carol.get_by_label("Code").fill(code_from_secret(secret, step_ahead=1))  # the enrolment's code is spent
    carol.get_by_role("button", name="Verify").click()
    expect(carol.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(carol.locator(".account-name")).to_contain_text("carol")
    carol.context.close()
    # The link worked once.
    page.goto(portal.url + link)
    expect(page.get_by_role("heading", name="This link does not work")).to_be_visible()


def test_deactivating_a_user_signs_them_out_at_once(world, portal, browser):
    victim = browser.new_context().new_page()
    victim.set_default_timeout(5000)
    sign_in_with_password(victim, portal, "acme-coadmin", "correct horse battery staple")
    expect(victim.get_by_role("heading", name="Dashboard")).to_be_visible()
    page = portal.sign_in("acme-admin")
    page.get_by_role("link", name="People").click()
    page.get_by_role("link", name="acme-coadmin").click()
    page.get_by_role("button", name="Deactivate").click()
    expect(page.get_by_role("status")).to_contain_text("deactivated")
    expect(page.get_by_role("button", name="Reactivate")).to_be_visible()
    victim.reload()
    expect(victim.get_by_role("heading", name="Sign in")).to_be_visible()
    sign_in_with_password(victim, portal, "acme-coadmin", "correct horse battery staple")
    expect(victim.get_by_role("alert")).to_be_visible()
    victim.context.close()


def test_single_sign_on_through_a_real_openid_provider(world, portal, live_server):
    from accounts.sso import sso_connection_save

    user = world.users["co_admin"]
    user.email = "co.admin@acme.example"
    user.save()
    with oidc_provider([f"{live_server.url}/accounts/sso/callback/"]) as provider:
        sso_connection_save(
            actor=None,
            organization=world.acme,
            issuer=provider.issuer,
            client_id=provider.client_id,
            client_secret=provider.client_secret,
        )
        page = portal.page
        page.route(re.compile(r"^https://fonts\."), lambda route: route.abort())  # the provider's page asks for a font
        page.goto(portal.url + "/accounts/login/")
        page.get_by_role("link", name="your organization's").click()
        page.get_by_label("Organization").fill("acme")
        page.get_by_role("button", name="Continue").click()
        page.wait_for_url(re.compile(re.escape(provider.issuer)))
        page.locator("input[name=login]").fill("co.admin@acme.example")
        page.locator("input[name=password]").fill("anything")
        page.locator("button[type=submit]").click()
        page.locator("button[type=submit]", has_text="Continue").click()  # consent, the first time
        page.wait_for_url(portal.url + "/")
        expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
        expect(page.locator(".account-name")).to_contain_text("acme-coadmin")
        time.sleep(0.1)

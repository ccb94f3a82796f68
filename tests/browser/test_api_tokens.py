"""The API tokens tab in a browser: create a token, copy it, use it, revoke it; and the management
API's interactive docs render from the portal's own files under its Content-Security-Policy."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def status_with(url: str, token: str) -> int:
    request = urllib.request.Request(f"{url}/api/manage/v1/organizations/acme/keys")
    request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            json.loads(response.read())
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_an_org_admin_creates_copies_uses_and_revokes_a_token(world, portal):
    page = portal.sign_in("acme-admin")
    portal.open("/organizations/acme/")
    page.get_by_role("link", name="API tokens").click()
    page.get_by_label("Name").fill("acme-ci")
    page.get_by_label("Read keys and their history").check()
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_test_id("created-token")).to_be_visible()
    token = portal.copied()
    assert token.startswith("lpat_")
    assert status_with(portal.url, token) == 200
    # Shown once: the page opened again does not show it (the text was in the POST's answer only,
    # which is never cached; a digest is all the portal keeps).
    portal.open("/organizations/acme/api-tokens/")
    expect(page.get_by_test_id("created-token")).to_have_count(0)
    row = page.get_by_test_id("api-token-table").locator("tr", has_text="acme-ci")
    expect(row).to_contain_text("keys:read")
    row.get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("The token acme-ci is revoked.")).to_be_visible()
    assert status_with(portal.url, token) == 401


def test_the_interactive_docs_render_without_a_cdn(world, portal):
    outside = []
    portal.page.on(
        "request", lambda request: outside.append(request.url) if not request.url.startswith(portal.url) else None
    )
    page = portal.open("/api/manage/v1/docs")
    expect(page.locator(".opblock").first).to_be_visible()
    expect(page.get_by_text("/api/manage/v1/organizations/{org}/renew")).to_be_visible()
    assert page.locator(".opblock").count() >= 19
    assert outside == []

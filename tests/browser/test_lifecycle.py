"""Renewing a subscription, a refused second stopgap key and a free-edition key, walked in Chromium."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.conftest import FINGERPRINT

pytestmark = pytest.mark.browser


def test_super_admin_renews_a_subscription(world, portal):
    from organizations.models import add_months

    ends = world.acme.subscription_ends_at
    page = portal.sign_in("root")
    portal.open("/organizations/acme/")
    page.get_by_role("link", name="Renew").click()
    page.get_by_label("Renew by").fill("12")
    page.get_by_role("button", name="Renew").click()
    expect(page.get_by_text("Acme Corp renewed by 12 months")).to_be_visible()
    world.acme.refresh_from_db()
    assert world.acme.subscription_ends_at == add_months(ends, 12)


def test_a_second_stopgap_is_refused_with_the_reason(world, portal):
    page = portal.sign_in("acme-admin")
    portal.open("/organizations/acme/trial/")
    page.get_by_role("button", name="Request trial license").click()
    expect(page.get_by_role("alert").or_(page.locator(".messages"))).to_contain_text("already had its stopgap")


def test_org_admin_requests_a_free_edition_key(world, portal):
    page = portal.sign_in("acme-admin")
    portal.open("/organizations/acme/trial/")
    page.get_by_role("button", name="Request free-edition key").click()
    expect(page.get_by_test_id("issued-key")).to_contain_text("Free-edition key issued")
    key = portal.copied()
    verdict = portal.agent("activate", key, {**FINGERPRINT, "hostname": "free-box"})
    assert verdict["code"] == "VALID" and verdict["license"]["edition"] == "free"
    assert verdict["license"]["capabilities"]["paid_features"] is False

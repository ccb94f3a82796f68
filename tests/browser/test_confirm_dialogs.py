"""Suspending an organization and detaching a machine ask in a <dialog> on the page itself (the
confirmation pages remain for a browser without script)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_suspend_asks_in_a_dialog_and_cancel_changes_nothing(world, portal):
    page = portal.sign_in("root")
    portal.open("/organizations/acme/")
    page.get_by_role("link", name="Suspend").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("answer SUSPENDED")
    assert page.url.endswith("/organizations/acme/")  # no confirmation page
    dialog.get_by_role("button", name="Cancel").click()
    world.acme.refresh_from_db()
    assert not world.acme.is_suspended
    page.get_by_role("link", name="Suspend").click()
    page.get_by_role("dialog").get_by_role("button", name="Suspend Acme Corp").click()
    expect(page.get_by_text("Organization Acme Corp suspended.")).to_be_visible()
    world.acme.refresh_from_db()
    assert world.acme.is_suspended


def test_detach_asks_in_a_dialog_naming_the_keys_it_releases(world, portal):
    page = portal.sign_in("acme-admin")
    portal.open("/organizations/acme/machines/")
    page.get_by_test_id("machine-table").get_by_role("link", name="Detach…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("1 key bound to it will be released")
    assert page.url.endswith("/organizations/acme/machines/")
    dialog.get_by_role("button", name="Cancel").click()
    world.machine.refresh_from_db()
    assert world.machine.organization_id == world.acme.pk
    page.get_by_test_id("machine-table").get_by_role("link", name="Detach…").click()
    page.get_by_role("dialog").get_by_role("button", name="Detach acme-srv01").click()
    expect(page.get_by_text("can be activated again")).to_be_visible()
    world.machine.refresh_from_db()
    assert world.machine.organization is None

"""The language switcher in a real browser: the whole page, its dialogs and its script in German,
remembered on the account at the next sign-in."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_switching_to_german_and_back(world, portal):
    page = portal.sign_in("acme-admin")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    page.get_by_label("Language").select_option("de")
    page.get_by_role("button", name="Change").click()
    expect(page.get_by_role("heading", name="Übersicht")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "de")

    portal.open("/organizations/acme/")
    expect(page.get_by_role("link", name="Maschinen", exact=True)).to_be_visible()
    page.get_by_role("button", name="Deaktivieren…").click()  # the <dialog>, its words in German too
    dialog = page.locator("dialog.confirm-dialog")
    expect(dialog).to_contain_text("Production deaktivieren?")
    dialog.get_by_role("button", name="Abbrechen").click()
    expect(dialog).to_be_hidden()

    page.get_by_role("button", name="Abmelden").click()
    page.context.clear_cookies()  # another browser: only the account remembers the choice
    page = portal.sign_in("acme-admin")
    expect(page.get_by_role("heading", name="Übersicht")).to_be_visible()
    page.get_by_label("Sprache").select_option("en")
    page.get_by_role("button", name="Wechseln").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

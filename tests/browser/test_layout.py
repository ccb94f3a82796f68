"""A walk of every page as each role, at desktop width (1280 px) and on a phone (390 px): no page
is wider than the screen, no table hides columns behind a sideways scroll, no cell is clipped, and
on a phone the tab strip shows the open tab."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

WIDTHS = [1280, 390]

# Everything that can stick out: the page itself, any scrolling table wrapper, any cell or heading.
OVERFLOW = """() => {
  const problems = [];
  const root = document.documentElement;
  if (root.scrollWidth > window.innerWidth) problems.push(`page ${root.scrollWidth} > ${window.innerWidth}`);
  for (const wrap of document.querySelectorAll('.table-wrap, .tabs, .subtabs, .mainnav')) {
    if (wrap.scrollWidth > wrap.clientWidth + 1) {
      problems.push(`${wrap.className} scrolls ${wrap.scrollWidth} > ${wrap.clientWidth}`);
    }
  }
  for (const cell of document.querySelectorAll('td, th')) {
    if (cell.closest('thead') && cell.closest('thead').getBoundingClientRect().width <= 1) continue;
    if (cell.scrollWidth > cell.clientWidth + 1) problems.push(`cell clipped: ${cell.textContent.trim().slice(0, 40)}`);
  }
  const shown = (element) => {
    const hidden = element.closest('.visually-hidden, thead');  // clipped to 1 px on purpose
    return !hidden || hidden.getBoundingClientRect().width > 1;
  };
  for (const element of document.querySelectorAll('main *')) {
    if (!shown(element)) continue;
    const box = element.getBoundingClientRect();
    if (box.width && box.right > window.innerWidth + 1) {
      problems.push(`${element.tagName}.${element.className} ends at ${box.right}`);
    }
  }
  return problems.slice(0, 10);
}"""

ACTIVE_TAB_IN_SIGHT = """() => {
  const tab = document.querySelector('.tabs a[aria-current="page"]');
  if (!tab) return true;
  const box = tab.getBoundingClientRect();
  return box.left >= 0 && box.right <= window.innerWidth && box.width > 0;
}"""


def _pages(world) -> dict[str, list[str]]:
    machine_key, server_key = world.machine_key.public_id, world.server_key.public_id
    organization = [
        "/organizations/acme/",
        "/organizations/acme/machines/",
        f"/organizations/acme/machines/{world.machine.uid}/detach/",
        f"/organizations/acme/environments/{world.production.uuid}/status/",
        "/organizations/acme/licenses/",
        "/organizations/acme/licenses/?kind=server",
        "/organizations/acme/licenses/?kind=trial",
        "/organizations/acme/licenses/?kind=temporary",
        "/organizations/acme/server-keys/",
        "/organizations/acme/audit/",
        "/organizations/acme/audit/?since=2026-05-02&until=2026-05-01",
        f"/keys/{machine_key}/",
        f"/keys/{machine_key}/revoke/",
        f"/keys/{server_key}/",
        f"/keys/{server_key}/edit/",
        f"/keys/{world.revoked_key.public_id}/",
        "/activate/",
        "/accounts/password_change/",
        "/accounts/two-factor/",
        "/accounts/two-factor/enrol/",
        "/organizations/acme/api-tokens/",
        "/organizations/acme/webhooks/",
        "/organizations/acme/webhooks/new/",
        f"/webhooks/{world.acme_webhook.uuid}/",
        f"/webhooks/{world.acme_webhook.uuid}/edit/",
        f"/webhooks/{world.acme_webhook.uuid}/delete/",
        "/people/",
        "/people/invite/",
        f"/people/{world.users['co_admin'].pk}/",
    ]
    return {
        "root": [
            "/",
            "/organizations/",
            "/organizations/new/",
            "/organizations/acme/edit/",
            "/organizations/acme/status/",
            "/organizations/acme/temporary-keys/",
            "/organizations/acme/trial/",
            "/organizations/acme/renew/",
            f"/keys/{world.temporary_key.public_id}/",
            "/machine-claims/",
            "/api-tokens/",
            "/webhooks/",
            "/webhooks/new/",
            "/people/single-sign-on/",
            f"/people/{world.users['org_admin'].pk}/",
            f"/people/{world.users['partner'].pk}/",
            *organization,
        ],
        "acme-admin": ["/", "/organizations/acme/trial/", "/organizations/new/", *organization],
        "acme-coadmin": ["/", "/organizations/acme/trial/", *organization],
        "partner": ["/", "/organizations/acme/", "/accounts/two-factor/", "/accounts/password_change/"],
    }


@pytest.fixture
def lived_in(world, settings):
    """The world with what real lists hold: long descriptions and names, e-mail addresses, a revoked key."""
    from licenses.models import Kind
    from licenses.services import license_issue, license_revoke

    for user in world.users.values():
        user.email = f"{user.username}.with-a-long-address@bentley-systems.example.com"
        user.save()
    admin = world.users["org_admin"]
    long_text = "Reporting server of the Zürich plant, second floor rack B, installed by the partner in 2026"
    for number in range(3):
        license_issue(
            organization=world.acme,
            kind=Kind.SERVER,
            actor=admin,
            machine_name=f"reporting-{number}.zurich.plant.internal.bentley-systems.example.com",
            expires_on=world.server_key.expires_at.date(),
            description=long_text,
        )
    world.revoked_key, _ = license_issue(
        organization=world.acme, kind=Kind.MACHINE, actor=admin, environment=world.production, description=long_text
    )
    license_revoke(license_key=world.revoked_key, actor=admin, reason="Laptop stolen at the airport, reported")
    # A machine Globex bound that Acme claims: the claims page and the machines tab's claim list.
    from environments.fingerprint import fingerprint_parse
    from environments.services import machine_claim_file
    from licenses.agent_api.flow import license_activate
    from tests.conftest import OTHER_MACHINE

    fingerprint = fingerprint_parse(OTHER_MACHINE)
    license_activate(key_text=world.globex_text, uid=fingerprint.uid, fingerprint=fingerprint)
    machine_claim_file(organization=world.acme, actor=admin, uid=fingerprint.uid, note=long_text)
    # A webhook endpoint with a long URL and a failed delivery, and an API token with every scope it may have.
    from integrations.tokens import api_token_create, scopes_allowed
    from notifications.models import Delivery
    from notifications.services import endpoint_create, event_publish

    settings.WEBHOOK_ALLOW_PRIVATE_DESTINATIONS = True
    world.acme_webhook, _ = endpoint_create(
        actor=admin,
        organization=world.acme,
        url="http://127.0.0.1:9/hooks/licensing/bentley-systems/reporting-servers/zurich-plant/second-floor",
        events=["license.revoked", "license.created", "subscription.expiring-soon"],
        description=long_text,
    )
    event = event_publish(event_type="license.revoked", organization=world.acme, data={"license": long_text})
    Delivery.objects.filter(event=event).update(
        status=Delivery.Status.FAILED, attempts=3, response_status=502, response_excerpt="<html>" + long_text * 4,
        error="Connection refused by the receiver at 127.0.0.1:9 after 10 s", duration_ms=10_000,
    )  # fmt: skip
    api_token_create(
        actor=admin,
        name="Billing system sync for the Zürich plant, reporting servers, second floor rack B",
        organization=world.acme,
        scopes=sorted(scopes_allowed(admin, world.acme)),
    )
    return world


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("username", ["root", "acme-admin", "acme-coadmin", "partner"])
def test_every_page_fits_the_screen(lived_in, portal, username, width):
    page = portal.sign_in(username)
    page.set_viewport_size({"width": width, "height": 900})
    for path in _pages(lived_in)[username]:
        response = page.goto(portal.url + path)
        assert response.status in (200, 403, 404), (path, response.status)
        problems = page.evaluate(OVERFLOW)
        assert not problems, (username, width, path, problems)
        assert page.evaluate(ACTIVE_TAB_IN_SIGHT), (username, width, path, "the open tab is out of sight")


@pytest.mark.parametrize("width", WIDTHS)
def test_the_server_keys_edit_and_the_machines_detach_are_in_sight(lived_in, portal, width):
    page = portal.sign_in("acme-admin")
    page.set_viewport_size({"width": width, "height": 900})
    portal.open("/organizations/acme/server-keys/")
    for button in page.get_by_role("link", name="Edit").all():
        box = button.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= width
    portal.open("/organizations/acme/machines/")
    box = page.get_by_role("link", name="Detach…").bounding_box()
    assert box and box["x"] + box["width"] <= width
    portal.open("/organizations/acme/licenses/")
    for header in ("Description", "Requested by"):
        box = page.get_by_role("columnheader", name=header).bounding_box()
        assert width < 600 or (box and box["x"] + box["width"] <= width), header


def test_on_a_phone_rows_are_stacked_with_their_column_names(lived_in, portal):
    page = portal.sign_in("acme-admin")
    page.set_viewport_size({"width": 390, "height": 844})
    portal.open("/organizations/acme/server-keys/")
    cell = page.get_by_test_id("server-key-table").locator("td[data-label='Requested by']").first
    expect(cell).to_be_visible()
    label = cell.evaluate("cell => getComputedStyle(cell, '::before').content")
    assert label == '"Requested by"'
    assert cell.evaluate("cell => getComputedStyle(cell).display") == "grid"


@pytest.mark.parametrize("width", WIDTHS)
def test_the_dashboard_chart_labels_are_readable(lived_in, portal, width):
    page = portal.sign_in("acme-admin")
    page.set_viewport_size({"width": width, "height": 900})
    portal.open("/")
    heights = page.locator("svg.chart-svg text.chart-label").evaluate_all(
        "labels => labels.map(label => label.getBoundingClientRect().height)"
    )
    assert heights and min(heights) >= 9, heights  # about 11 px type at least, on a phone too


@pytest.mark.parametrize("width", WIDTHS)
def test_the_signed_out_pages_fit_the_screen(world, portal, width):
    page = portal.page
    page.set_viewport_size({"width": width, "height": 900})
    for path in ("/accounts/login/", "/accounts/password_reset/"):
        portal.open(path)
        problems = page.evaluate(OVERFLOW)
        assert not problems, (width, path, problems)

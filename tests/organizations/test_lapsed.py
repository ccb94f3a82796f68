"""An organization whose subscription has ended reads "Lapsed" everywhere, and the dashboard counts them."""

from __future__ import annotations

import re
from datetime import timedelta

from django.core.cache import cache
from django.utils import timezone

from organizations.models import Organization


def lapse(organization: Organization, *, days_ago: float = 1) -> None:
    ends = timezone.now() - timedelta(days=days_ago)
    Organization.objects.filter(pk=organization.pk).update(
        subscription_starts_at=ends - timedelta(days=365), subscription_ends_at=ends
    )


def test_a_lapsed_organization_shows_lapsed_on_its_page_and_in_the_list(world):
    lapse(world.acme)
    client = world.client("super_admin")
    page = client.get("/organizations/acme/").content.decode()
    assert '<span class="badge badge-danger">Lapsed</span>' in page
    assert '<span class="badge badge-ok">Active</span>' not in page
    listing = client.get("/organizations/").content.decode()
    acme_row = listing[listing.index(">Acme Corp<") :].split("</tr>")[0]
    globex_row = listing[listing.index(">Globex<") :].split("</tr>")[0]
    assert "Lapsed" in acme_row and "Active" in globex_row
    org_admin_page = world.client("org_admin").get("/organizations/acme/").content.decode()
    assert ">Lapsed</span>" in org_admin_page


def test_suspended_wins_over_lapsed(world):
    lapse(world.acme)
    Organization.objects.filter(pk=world.acme.pk).update(status="suspended")
    world.acme.refresh_from_db()
    assert world.acme.state_label() == "Suspended"


def test_dashboard_counts_lapsed_and_ending_organizations_with_links_to_the_filtered_list(world):
    lapse(world.acme)
    Organization.objects.filter(pk=world.globex.pk).update(subscription_ends_at=timezone.now() + timedelta(days=10))
    cache.clear()
    client = world.client("super_admin")
    dashboard = client.get("/").content.decode()
    lapsed = dashboard[dashboard.index('data-testid="stat-lapsed"') :].split("</div>")[0]
    ending = dashboard[dashboard.index('data-testid="stat-ending"') :].split("</div>")[0]
    assert re.search(r'<a class="stat-value" href="/organizations/\?state=lapsed"[^>]*>1</a>', lapsed)
    assert re.search(r'<a class="stat-value" href="/organizations/\?state=ending"[^>]*>1</a>', ending)

    only_lapsed = client.get("/organizations/?state=lapsed").content.decode()
    assert ">Acme Corp<" in only_lapsed and ">Globex<" not in only_lapsed
    only_ending = client.get("/organizations/?state=ending").content.decode()
    assert ">Globex<" in only_ending and ">Acme Corp<" not in only_ending


def test_an_org_admins_dashboard_counts_only_its_own_organization(world):
    lapse(world.globex)
    cache.clear()
    dashboard = world.client("org_admin").get("/").content.decode()
    lapsed = dashboard[dashboard.index('data-testid="stat-lapsed"') :].split("</div>")[0]
    assert '<a class="stat-value" href="/organizations/acme/">0</a>' in lapsed and "?state=lapsed" not in lapsed


def test_a_renewal_makes_a_lapsed_organization_active_again(world):
    from organizations.services import subscription_renew

    lapse(world.acme, days_ago=5)
    world.acme.refresh_from_db()
    assert world.acme.state_label() == "Lapsed"
    subscription_renew(organization=world.acme, actor=None, months=1)
    world.acme.refresh_from_db()
    assert world.acme.state_label() == "Active"

"""Lists: filters, sorting by their columns, a bounded total, search by the id prefix they show."""

from __future__ import annotations

import re
from datetime import timedelta

from django.utils import timezone

from core.pages import Total, bounded_total, uuid_prefix
from licenses.models import Kind, LicenseKey
from licenses.services import license_issue, license_revoke
from organizations.models import Organization


def _rows(html: str, attribute: str = "data-key") -> list[str]:
    return re.findall(rf'<tr {attribute}="([^"]+)"', html)


def _server_key(world, name: str, days: int, description: str = "") -> LicenseKey:
    key, _ = license_issue(
        organization=world.acme,
        kind=Kind.SERVER,
        actor=world.users["org_admin"],
        machine_name=name,
        expires_on=(timezone.now() + timedelta(days=days)).date(),
        description=description,
    )
    return key


def test_uuid_prefixes_read_as_a_uuid_begins():
    assert uuid_prefix("7C1E0A2B3") == "7c1e0a2b-3"
    assert uuid_prefix("7c1e0a2b-3f") == "7c1e0a2b-3f"
    assert uuid_prefix("abc") is None and uuid_prefix("not-hex!") is None


def test_a_total_is_bounded(world):
    assert str(bounded_total(LicenseKey.objects.all(), cap=3)) == "3+"
    assert bounded_total(Organization.objects.all(), cap=3) == Total(count=2, capped=False)
    assert str(Total(count=10_000, capped=True)) == "10,000+"


def test_server_keys_by_id_prefix_status_and_ending_soon(world):
    soon = _server_key(world, "soon-box", 10)
    later = _server_key(world, "later-box", 200, "quarterly reports")
    revoked = _server_key(world, "gone-box", 50)
    license_revoke(license_key=revoked, actor=None, reason="x")
    client = world.client("co_admin")
    url = "/organizations/acme/server-keys/"

    html = client.get(url, {"q": str(soon.public_id)[:8].upper()}).content.decode()
    assert _rows(html) == [str(soon.public_id)]
    assert 'data-testid="list-total">1 key match' in html
    assert _rows(client.get(url, {"q": "QUARTERLY"}).content.decode()) == [str(later.public_id)]
    assert _rows(client.get(url, {"status": "revoked"}).content.decode()) == [str(revoked.public_id)]
    ending = set(_rows(client.get(url, {"ending": "on"}).content.decode()))
    assert str(soon.public_id) in ending and str(later.public_id) not in ending and str(revoked.public_id) not in ending
    assert "No key matches these filters." in client.get(url, {"q": "nothing-like-it"}).content.decode()


def test_server_keys_sort_by_expiry_and_machine_name_both_ways(world):
    a = _server_key(world, "aaa", 300)
    z = _server_key(world, "zzz", 5)
    client = world.client("org_admin")
    url = "/organizations/acme/server-keys/"
    by_expiry = _rows(client.get(url, {"sort": "expires"}).content.decode())
    assert by_expiry.index(str(z.public_id)) < by_expiry.index(str(a.public_id))
    by_name_down = _rows(client.get(url, {"sort": "-machine_name"}).content.decode())
    assert by_name_down[0] == str(z.public_id) and by_name_down[-1] == str(a.public_id)
    html = client.get(url, {"sort": "expires", "status": "active"}).content.decode()
    assert "sort=-expires" in html and "status=active" in html  # the heading sorts the other way, filters kept
    assert _rows(client.get(url, {"sort": "nonsense"}).content.decode())  # unknown: the default order


def test_machine_keys_list_filters_too(world):
    html = world.client("co_admin").get("/organizations/acme/licenses/", {"status": "active"}).content.decode()
    assert _rows(html) == [str(world.machine_key.public_id)]
    html = world.client("co_admin").get("/organizations/acme/licenses/", {"status": "revoked"}).content.decode()
    assert _rows(html) == [] and "No key matches these filters." in html


def test_organizations_filter_by_status_edition_and_ending_soon(world):
    from organizations.services import organization_create, organization_set_status

    now = timezone.now()
    ending = organization_create(
        actor=None,
        name="Ending Soon Ltd",
        edition="trial",
        subscription_starts_at=now,
        subscription_ends_at=now + timedelta(days=5),
    )
    organization_set_status(organization=world.globex, actor=None, status="suspended")
    client = world.client("super_admin")
    names = lambda response: re.findall(r'<a href="/organizations/[^/]+/">([^<]+)</a>', response.content.decode())  # noqa: E731
    assert names(client.get("/organizations/", {"status": "suspended"})) == ["Globex"]
    assert names(client.get("/organizations/", {"edition": "trial"})) == ["Ending Soon Ltd"]
    assert names(client.get("/organizations/", {"state": "ending"})) == ["Ending Soon Ltd"]
    assert names(client.get("/organizations/", {"sort": "ends"}))[0] == "Ending Soon Ltd"
    assert names(client.get("/organizations/", {"q": str(ending.uuid)[:8]})) == ["Ending Soon Ltd"]
    assert 'data-testid="list-total">3 organizations' in client.get("/organizations/").content.decode()


def test_machines_by_the_uid_prefix_shown(world):
    client = world.client("org_admin")
    shown = world.machine.uid[:16]
    html = client.get("/organizations/acme/machines/", {"q": shown.upper() + "…"}).content.decode()
    assert _rows(html, "data-machine") == [world.machine.uid]
    html = client.get("/organizations/acme/machines/", {"q": "ffff0000"}).content.decode()
    assert _rows(html, "data-machine") == [] and "No machine matches." in html
    assert (
        "sort=last_seen" in client.get("/organizations/acme/machines/").content.decode()
    )  # newest first, click: oldest


def test_the_audit_list_has_a_total(world):
    html = world.client("org_admin").get("/organizations/acme/audit/").content.decode()
    assert re.search(r'data-testid="list-total">\d+ events', html)


def test_every_dashboard_count_links_to_its_filtered_list(world):
    client = world.client("org_admin")
    html = client.get("/").content.decode()
    links = re.findall(r'<a class="stat-value" href="([^"]+)">(\d+)</a>', html)
    assert len(links) == 9  # organizations, five kinds of key, lapsed, ending, expiring
    for url, count in links[1:6]:
        listing = client.get(url.replace("&amp;", "&")).content.decode()
        assert f'data-testid="list-total">{count} key' in listing, url
    assert "kind=all" in links[8][0]


def test_the_super_admins_dashboard_links_open(world):
    client = world.client("super_admin")
    html = client.get("/").content.decode()
    urls = re.findall(r'<a class="stat-value" href="([^"]+)"', html)
    assert len(urls) == 9
    for url in urls:
        response = client.get(url.replace("&amp;", "&"))
        assert response.status_code == 200, url  # the admin answers a bad filter with a redirect to ?e=1

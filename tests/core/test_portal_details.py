"""Details a user meets every day: clear errors instead of 500s, one audit event per change, names
that read well, confirmations, the 403 page, form accessibility, refusals audited once."""

from __future__ import annotations

import re

import pytest
from django.core.cache import cache

from audit.models import AuditEvent
from licenses.models import Kind, LicenseKey
from organizations.models import Organization

ORGANIZATION_FORM = {
    "name": "Initech",
    "slug": "",
    "edition": "paid",
    "subscription_starts_at": "2026-01-01T00:00",
    "subscription_ends_at": "2027-01-01T00:00",
    "transfer_limit": "7",
}


def test_the_transfer_limit_typed_at_creation_is_in_the_one_create_event(world):
    response = world.client("super_admin").post("/organizations/new/", ORGANIZATION_FORM)
    assert response.status_code == 302
    organization = Organization.objects.get(name="Initech")
    assert organization.transfer_limit == 7
    events = AuditEvent.objects.filter(object_id=str(organization.uuid))
    assert [event.action for event in events] == ["organization.create"]
    assert events[0].after["transfer_limit"] == 7


@pytest.mark.parametrize(
    ("name", "slug"),
    [("Müller & Söhne AG", "muller-sohne-ag"), ("Ωμέγα", "omega"), ("東京電力", "dongjingdianli")],
)
def test_unicode_names_give_readable_slugs(world, name, slug):
    response = world.client("super_admin").post("/organizations/new/", {**ORGANIZATION_FORM, "name": name})
    assert response.status_code == 302
    assert Organization.objects.get(name=name).slug == slug


def test_a_duplicate_organization_name_is_confirmed_first(world):
    client = world.client("super_admin")
    response = client.post("/organizations/new/", {**ORGANIZATION_FORM, "name": "acme corp"})
    assert response.status_code == 200
    assert b"exists already" in response.content and b'name="same_name_anyway"' in response.content
    assert Organization.objects.filter(name__iexact="acme corp").count() == 1
    response = client.post("/organizations/new/", {**ORGANIZATION_FORM, "name": "acme corp", "same_name_anyway": "on"})
    assert response.status_code == 302
    assert Organization.objects.filter(name__iexact="acme corp").count() == 2


def test_an_unrelated_name_is_not_asked_about(world):
    response = world.client("super_admin").get("/organizations/new/")
    assert b"same_name_anyway" not in response.content


def test_a_server_key_far_in_the_future_is_a_clear_error_not_a_500(world):
    client = world.client("org_admin")
    keys = LicenseKey.objects.count()
    response = client.post(
        "/organizations/acme/server-keys/generate/", {"machine_name": "far", "expires_on": "9999-12-31"}
    )
    assert response.status_code == 400
    assert b"years ahead" in response.content
    assert LicenseKey.objects.count() == keys
    response = client.post(
        f"/keys/{world.server_key.public_id}/edit/",
        {"description": "", "status": "active", "expires_on": "9999-12-31"},
    )
    assert response.status_code == 400 and b"years ahead" in response.content


def test_a_temporary_key_of_one_second_is_refused(world):
    response = world.client("super_admin").post("/organizations/acme/temporary-keys/generate/", {"ttl": "1"})
    assert response.status_code == 400
    assert not LicenseKey.objects.filter(kind=Kind.TEMPORARY).exclude(pk=world.temporary_key.pk).exists()


def test_described_fields_point_at_ids_that_exist(world):
    for url in ["/organizations/acme/server-keys/", f"/keys/{world.server_key.public_id}/edit/", "/activate/"]:
        html = world.client("org_admin").get(url).content.decode()
        for described in re.findall(r'aria-describedby="([^"]+)"', html):
            for target in described.split():
                assert f'id="{target}"' in html, (url, target)


def test_the_status_radio_group_is_named_by_a_legend(world):
    html = world.client("org_admin").get(f"/keys/{world.server_key.public_id}/edit/").content.decode()
    for target in re.findall(r'<label for="([^"]*)"', html):
        assert target and f'id="{target}"' in html, target
    assert re.search(r"<fieldset[^>]*>\s*<legend>Status", html)


def test_the_403_page_has_the_portal_header_and_says_who_can_help(world):
    world.users["org_admin"].email = "boss@acme.example"
    world.users["org_admin"].save()
    response = world.client("co_admin").get("/organizations/acme/trial/")
    assert response.status_code == 403
    html = response.content.decode()
    assert 'class="mainnav"' in html and "Sign out" in html
    assert "boss@acme.example" in html


def test_the_403_page_of_an_admin_names_the_super_admins(world):
    world.users["super_admin"].email = "vendor@example.com"
    world.users["super_admin"].save()
    response = world.client("org_admin").get("/organizations/new/")
    assert response.status_code == 403 and b"vendor@example.com" in response.content


def test_a_nul_character_in_an_admin_filter_is_a_400_not_a_500(world):
    client = world.client("super_admin")
    for url in ["/admin/licenses/licensekey/?kind__exact=%00", "/admin/organizations/organization/?q=%00"]:
        assert client.get(url).status_code == 400, url


def test_repeated_refusals_of_one_path_are_audited_once(world):
    client = world.client("outsider")
    for _ in range(5):
        assert client.get("/organizations/acme/").status_code == 404
    assert client.get("/organizations/acme/licenses/").status_code == 404
    denied = AuditEvent.objects.filter(action="access.denied", actor=world.users["outsider"])
    assert sorted(event.object_repr for event in denied) == [
        "GET /organizations/acme/",
        "GET /organizations/acme/licenses/",
    ]


def test_a_user_walking_many_paths_leaves_a_bounded_trail(world):
    from audit.middleware import ACCESS_DENIED_PATHS_PER_WINDOW

    cache.clear()
    client = world.client("outsider")
    for number in range(ACCESS_DENIED_PATHS_PER_WINDOW + 10):
        client.get(f"/organizations/nothing-{number}/")
    denied = AuditEvent.objects.filter(action="access.denied", actor=world.users["outsider"]).count()
    assert denied == ACCESS_DENIED_PATHS_PER_WINDOW


@pytest.mark.parametrize(
    ("role", "url", "data", "listing"),
    [
        ("org_admin", "/organizations/acme/licenses/issue/", "machine", "/organizations/acme/licenses/"),
        ("super_admin", "/organizations/acme/temporary-keys/generate/", {"ttl": "3600"}, None),
        ("co_admin", "/organizations/acme/server-keys/generate/", "server", None),
        ("org_admin", "/organizations/acme/trial/", {}, None),
    ],
)
def test_generating_a_key_redirects_and_a_reload_issues_no_second_one(world, role, url, data, listing):
    from datetime import timedelta

    from django.utils import timezone

    if data == "machine":
        data = {"environment": str(world.production.uuid)}
    elif data == "server":
        data = {"machine_name": "box", "expires_on": (timezone.now() + timedelta(days=9)).date().isoformat()}
    if url.endswith("/trial/"):  # the world's trial key took this period's stopgap: the vendor allows one more
        from licenses.stopgaps import stopgap_grant

        stopgap_grant(organization=world.acme, actor=world.users["super_admin"], reason="late renewal")
    client = world.client(role)
    keys = LicenseKey.objects.count()
    response = client.post(url, data)
    assert response.status_code == 302
    assert LicenseKey.objects.count() == keys + 1
    issued = LicenseKey.objects.order_by("-id").first()
    shown = client.get(response["Location"])
    assert shown["Cache-Control"] == "no-store, private"
    assert 'data-testid="issued-key"' in shown.content.decode()
    again = client.get(response["Location"])  # the reload
    assert 'data-testid="issued-key"' not in again.content.decode()
    assert LicenseKey.objects.count() == keys + 1
    assert not AuditEvent.objects.filter(action="license.reveal", object_id=str(issued.public_id)).exists()


def test_a_server_key_shows_the_day_it_is_valid_through(world):
    from datetime import date

    from licenses.services import license_issue

    key, _ = license_issue(
        organization=world.acme,
        kind=Kind.SERVER,
        actor=world.users["org_admin"],
        machine_name="reports",
        expires_on=date(2027, 1, 15),
    )
    client = world.client("org_admin")
    for url in [
        "/organizations/acme/server-keys/",
        f"/keys/{key.public_id}/",
        "/organizations/acme/licenses/?kind=server",
    ]:
        html = client.get(url).content.decode()
        assert "valid through <time" in html and ">2027-01-15</time>" in html, url
        assert "2027-01-16 00:00" not in html, url


def test_a_revoked_key_neither_works_until_nor_is_bound_to_free(world):
    from licenses.services import license_revoke

    license_revoke(license_key=world.server_key, actor=world.users["org_admin"], reason="gone")
    client = world.client("org_admin")
    detail = client.get(f"/keys/{world.server_key.public_id}/").content.decode()
    assert "Works until" not in detail and "Bound to" not in detail
    assert "no longer: the key is revoked" in detail
    listing = client.get("/organizations/acme/licenses/?kind=server").content.decode()
    row = listing[listing.index(f'data-key="{world.server_key.public_id}"') :]
    row = row[: row.index("</tr>")]
    assert ">free<" not in row and "(revoked)" in row


def test_people_are_shown_by_e_mail(world):
    world.users["org_admin"].email = "it-lead@acme.example"
    world.users["org_admin"].save()
    client = world.client("co_admin")
    assert "it-lead@acme.example" in client.get("/organizations/acme/server-keys/").content.decode()
    assert "it-lead@acme.example" in client.get(f"/keys/{world.server_key.public_id}/").content.decode()


def test_the_machine_name_the_agent_sent_is_shown(world):
    from licenses.services import license_issue
    from tests.conftest import OTHER_MACHINE, Agent

    _, text = license_issue(organization=world.acme, kind=Kind.MACHINE, actor=None, environment=world.production)
    verdict = Agent(fingerprint={**OTHER_MACHINE, "hostname": "acme-build-07"}).activate(
        text, machine_name="Build server in room 7"
    )
    assert verdict["code"] == "VALID"
    html = world.client("org_admin").get("/organizations/acme/machines/").content.decode()
    assert "acme-build-07" in html and "Build server in room 7" in html

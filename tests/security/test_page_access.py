"""Every page, for every role: the roles that may open it get it; the others get 403, 404 or the sign-in page.

A 404 (not a 403) answers anyone asking for another organization's objects, so it never confirms they exist.
"""

from __future__ import annotations

import pytest
from django.test import Client

from environments.models import Environment
from tests.conftest import ROLES

OK, FORBIDDEN, MISSING, SIGN_IN, REDIRECT = 200, 403, 404, "sign-in", 302
MANAGERS = {"super_admin": OK, "org_admin": OK, "co_admin": OK, "outsider": MISSING, "partner": MISSING}
SUPER_ONLY_IN_ORG = {
    "super_admin": OK,
    "org_admin": FORBIDDEN,
    "co_admin": FORBIDDEN,
    "outsider": MISSING,
    "partner": MISSING,
}
SUPER_ONLY = {
    "super_admin": OK,
    "org_admin": FORBIDDEN,
    "co_admin": FORBIDDEN,
    "outsider": FORBIDDEN,
    "partner": FORBIDDEN,
}
EVERYONE = {"super_admin": OK, "org_admin": OK, "co_admin": OK, "outsider": OK, "partner": OK}
# The people pages: super-admins, and each organization's admin for their own organization.
PEOPLE = {"super_admin": OK, "org_admin": OK, "co_admin": FORBIDDEN, "outsider": OK, "partner": FORBIDDEN}


def acme_endpoint(w):
    """Acme's webhook endpoint (made on first use), with one delivery in its log."""
    from notifications.models import Delivery, Event, WebhookEndpoint
    from notifications.services import new_secret

    endpoint, made = WebhookEndpoint.objects.get_or_create(
        organization=w.acme, url="https://hooks.acme.example/portal", defaults={"events": ["*"], "secret": new_secret()}
    )
    if made:
        event = Event.objects.create(type="organization.updated", organization=w.acme, data={"slug": "acme"})
        Delivery.objects.create(event=event, endpoint=endpoint, status=Delivery.Status.FAILED, attempts=10)
    return endpoint


def acme_delivery(w):
    return acme_endpoint(w).deliveries.get()


PAGES = {
    "dashboard": (lambda w: "/", EVERYONE),
    "organization list": (
        lambda w: "/organizations/",
        {"super_admin": OK, "org_admin": REDIRECT, "co_admin": REDIRECT, "outsider": REDIRECT, "partner": FORBIDDEN},
    ),
    "organization search": (lambda w: "/organizations/?q=acme", {"super_admin": OK}),
    "new organization": (lambda w: "/organizations/new/", SUPER_ONLY),
    "organization (environments tab)": (lambda w: "/organizations/acme/", MANAGERS),
    "edit organization": (lambda w: "/organizations/acme/edit/", SUPER_ONLY_IN_ORG),
    "suspend organization (confirm)": (lambda w: "/organizations/acme/status/", SUPER_ONLY_IN_ORG),
    "delete environment (confirm)": (
        lambda w: f"/organizations/acme/environments/{w.production.uuid}/status/",
        MANAGERS,
    ),
    "machines tab": (lambda w: "/organizations/acme/machines/", MANAGERS),
    "machines of one environment": (
        lambda w: f"/organizations/acme/machines/?environment={w.production.uuid}",
        MANAGERS,
    ),
    "detach machine (confirm)": (lambda w: f"/organizations/acme/machines/{w.machine.uid}/detach/", MANAGERS),
    "licenses tab": (lambda w: "/organizations/acme/licenses/", MANAGERS),
    "licenses tab, server keys": (lambda w: "/organizations/acme/licenses/?kind=server", MANAGERS),
    "licenses tab, temporary keys": (lambda w: "/organizations/acme/licenses/?kind=temporary", MANAGERS),
    "key history": (lambda w: f"/keys/{w.machine_key.public_id}/", MANAGERS),
    "revoke key (confirm)": (lambda w: f"/keys/{w.machine_key.public_id}/revoke/", MANAGERS),
    "API tokens tab": (lambda w: "/organizations/acme/api-tokens/", {**MANAGERS, "co_admin": FORBIDDEN}),
    "vendor API tokens": (lambda w: "/api-tokens/", SUPER_ONLY),
    "vendor webhooks": (lambda w: "/webhooks/", SUPER_ONLY),
    "new vendor webhook": (lambda w: "/webhooks/new/", SUPER_ONLY),
    "webhooks tab": (lambda w: "/organizations/acme/webhooks/", MANAGERS),
    "new webhook of an organization": (lambda w: "/organizations/acme/webhooks/new/", MANAGERS),
    "webhook endpoint and its deliveries": (lambda w: f"/webhooks/{acme_endpoint(w).uuid}/", MANAGERS),
    "edit webhook endpoint": (lambda w: f"/webhooks/{acme_endpoint(w).uuid}/edit/", MANAGERS),
    "delete webhook endpoint (confirm)": (lambda w: f"/webhooks/{acme_endpoint(w).uuid}/delete/", MANAGERS),
    "temporary keys tab": (lambda w: "/organizations/acme/temporary-keys/", MANAGERS),  # read-only for admins
    "temporary key history": (lambda w: f"/keys/{w.temporary_key.public_id}/", MANAGERS),
    "revoke temporary key (confirm)": (lambda w: f"/keys/{w.temporary_key.public_id}/revoke/", SUPER_ONLY_IN_ORG),
    "server keys tab": (lambda w: "/organizations/acme/server-keys/", MANAGERS),
    "edit server key": (lambda w: f"/keys/{w.server_key.public_id}/edit/", MANAGERS),
    "trial tab": (
        lambda w: "/organizations/acme/trial/",
        {"super_admin": OK, "org_admin": OK, "co_admin": FORBIDDEN, "outsider": MISSING, "partner": MISSING},
    ),
    "audit tab": (lambda w: "/organizations/acme/audit/", MANAGERS),
    "audit tab filtered": (lambda w: "/organizations/acme/audit/?action=license.&since=2000-01-01", MANAGERS),
    "audit CSV": (lambda w: "/organizations/acme/audit.csv", MANAGERS),
    "manual activation": (
        lambda w: "/activate/",
        {"super_admin": OK, "org_admin": OK, "co_admin": OK, "outsider": OK, "partner": FORBIDDEN},
    ),
    "machine claims": (lambda w: "/machine-claims/", SUPER_ONLY),
    "Django admin": (
        lambda w: "/admin/",
        {"super_admin": OK, "org_admin": REDIRECT, "co_admin": REDIRECT, "outsider": REDIRECT, "partner": REDIRECT},
    ),
    "Django admin, audit events": (lambda w: "/admin/audit/auditevent/", {"super_admin": OK, "org_admin": REDIRECT}),
    "Django admin, keys": (lambda w: "/admin/licenses/licensekey/", {"super_admin": OK, "co_admin": REDIRECT}),
    "Django admin, users": (lambda w: "/admin/organizations/user/", {"super_admin": OK, "partner": REDIRECT}),
    "people": (lambda w: "/people/", PEOPLE),
    "people, search": (lambda w: "/people/?q=acme", PEOPLE),
    "invite someone": (lambda w: "/people/invite/", PEOPLE),
    "a co-admin's page": (lambda w: f"/people/{w.users['co_admin'].pk}/", {**PEOPLE, "outsider": MISSING}),
    "a super-admin's page": (
        lambda w: f"/people/{w.users['super_admin'].pk}/",
        {**PEOPLE, "org_admin": MISSING, "outsider": MISSING},
    ),
    "a partner's temporary key": (
        lambda w: f"/people/{w.users['partner'].pk}/temporary-key/?organization=acme",
        {**SUPER_ONLY, "super_admin": REDIRECT},
    ),
    "single sign-on settings": (lambda w: "/people/single-sign-on/", SUPER_ONLY),
    "single sign-on of an organization": (lambda w: "/people/single-sign-on/acme/", SUPER_ONLY),
    "two-factor sign-in": (lambda w: "/accounts/two-factor/", EVERYONE),
    "two-factor enrolment": (lambda w: "/accounts/two-factor/enrol/", EVERYONE),
    "second factor (none enrolled)": (lambda w: "/accounts/two-factor/verify/", {r: REDIRECT for r in EVERYONE}),
}

CASES = [
    (page, role) for page, (_, expected) in PAGES.items() for role in ROLES if role in expected or role == "anonymous"
]


@pytest.mark.parametrize(("page", "role"), CASES, ids=[f"{page}-{role}" for page, role in CASES])
def test_page_for_role(world, page, role):
    url_for, expected = PAGES[page]
    url = url_for(world)
    response = world.client(role).get(url)
    if role == "anonymous":
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/" if url.startswith("/admin/") else "/accounts/login/")
        return
    assert response.status_code == expected[role], (url, role, response.status_code)
    if expected[role] == OK and not url.endswith(".csv"):
        html = response.content.decode()
        assert "<script>" not in html and " onclick=" not in html


def test_another_organizations_key_is_not_found_for_admins(world):
    for role in ("org_admin", "co_admin"):
        client = world.client(role)
        for path in ("", "revoke/", "edit/"):
            assert client.get(f"/keys/{world.globex_key.public_id}/{path}").status_code == 404
        assert client.post(f"/keys/{world.globex_key.public_id}/reveal/").status_code == 404
        assert client.get("/organizations/globex/").status_code == 404


def test_unknown_organization_and_key_look_like_forbidden_ones(world):
    client = world.client("org_admin")
    assert client.get("/organizations/no-such-org/").status_code == 404
    assert client.get("/keys/00000000-0000-0000-0000-000000000000/").status_code == 404
    assert client.get("/organizations/acme/machines/?environment=not-a-uuid").status_code == 404


def test_partner_dashboard_lists_only_their_temporary_keys(world):
    html = world.client("partner").get("/").content.decode()
    assert "My temporary keys" in html
    assert str(world.temporary_key.public_id)[:8] in html
    assert str(world.machine_key.public_id)[:8] not in html
    assert "Acme Corp" in html


def test_partner_without_keys_sees_an_empty_page(world):
    from organizations.models import User
    from organizations.services import user_create

    other = user_create(actor=None, username="dev2", role=User.Role.PARTNER)
    client = world.client("anonymous")
    client.force_login(other)
    html = client.get("/").content.decode()
    assert "No temporary keys have been issued to you" in html
    assert client.get(f"/keys/{world.temporary_key.public_id}/").status_code == 404
    assert client.post(f"/keys/{world.temporary_key.public_id}/reveal/").status_code == 404


def test_templates_have_no_inline_script_handler_or_style():
    """The Content-Security-Policy allows scripts and styles from the portal's own files only. HTML
    mails (``templates/notifications/mail/``) are read by mail clients, not served: they may style
    inline (mail clients drop style sheets), never script."""
    import re
    from pathlib import Path

    for template in (Path(__file__).resolve().parents[2] / "templates").rglob("*.html"):
        text = template.read_text()
        if "notifications/mail" in template.as_posix():
            assert "<script" not in text and not re.search(r"\son[a-z]+=", text), template
            continue
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), template
        assert not re.search(r"\son[a-z]+=", text), template
        assert not re.search(r"\sstyle=", text), template
        assert "<style" not in text, template


def test_audit_log_is_read_only_in_the_django_admin(world):
    from audit.models import AuditEvent

    client = world.client("super_admin")
    event = AuditEvent.objects.filter(organization=world.acme).first()
    assert client.get("/admin/audit/auditevent/add/").status_code == 403
    page = client.get(f"/admin/audit/auditevent/{event.pk}/change/")
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert client.post(f"/admin/audit/auditevent/{event.pk}/change/", {"action": "x"}).status_code == 403
    assert client.get(f"/admin/audit/auditevent/{event.pk}/delete/").status_code == 403
    html = client.get("/admin/audit/auditevent/").content.decode()
    assert "delete_selected" not in html


def test_keys_are_never_stored_readable_in_the_django_admin(world):
    html = (
        world.client("super_admin").get(f"/admin/licenses/licensekey/{world.machine_key.pk}/change/").content.decode()
    )
    assert world.machine_text not in html and world.machine_key.encrypted_key not in html


def test_state_changing_requests_need_a_csrf_token(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.users["super_admin"])
    response = client.post("/organizations/acme/environments/add/", {"name": "Staging"})
    assert response.status_code == 403
    assert not Environment.objects.filter(name="Staging").exists()


@pytest.mark.parametrize(
    "url",
    [
        "/organizations/acme/environments/add/",
        "/organizations/acme/licenses/issue/",
        "/organizations/acme/temporary-keys/generate/",
        "/organizations/acme/server-keys/generate/",
        "/organizations/acme/server-keys/delete/",
    ],
)
def test_actions_are_post_only(world, url):
    assert world.client("super_admin").get(url).status_code == 405

"""Single sign-on against a real OpenID Connect provider (node's oidc-provider, started on loopback):
users matched by verified e-mail within the connection's scope, created only where allowed, the role
always the portal's, deactivated users refused, every outcome audited."""

from __future__ import annotations

import pytest
import requests

from accounts.models import SingleSignOn
from accounts.sso import sso_connection_save
from audit.models import AuditEvent
from organizations.models import User
from tests.conftest import World
from tests.support.oidc_provider import oidc_provider, sign_in_through

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def provider(live_server):
    with oidc_provider([f"{live_server.url}/accounts/sso/callback/"]) as running:
        yield running


@pytest.fixture
def live_world(transactional_db, live_server, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return World()


def connect(provider, organization=None, **options) -> SingleSignOn:
    return sso_connection_save(
        actor=None,
        organization=organization,
        issuer=provider.issuer,
        client_id=provider.client_id,
        client_secret=provider.client_secret,
        **options,
    )


def portal_user(session: requests.Session, live_server) -> str | None:
    """Who the portal thinks this browser is (None: signed out)."""
    response = session.get(f"{live_server.url}/accounts/two-factor/", timeout=10)
    if "/accounts/login/" in response.url:
        return None
    return response.text.split('class="account-name"')[1].split(">")[1].split("<")[0].strip()


def test_a_known_user_signs_in_by_verified_email_and_keeps_the_portal_role(live_world, live_server, provider):
    connect(provider, live_world.acme)
    co_admin = live_world.users["co_admin"]
    co_admin.email = "co.admin@acme.example"
    co_admin.save()
    session = requests.Session()
    response = sign_in_through(session, f"{live_server.url}/accounts/sso/acme/", "Co.Admin@acme.example")
    assert response.url == f"{live_server.url}/", response.url
    assert portal_user(session, live_server) == "acme-coadmin"
    assert User.objects.get(pk=co_admin.pk).role == "co_admin"
    assert AuditEvent.objects.filter(action="auth.sign_in", actor=co_admin, after__via="sso").exists()


def test_an_unverified_email_or_another_organizations_user_is_refused(live_world, live_server, provider):
    connect(provider, live_world.acme)
    outsider = live_world.users["outsider"]
    outsider.email = "boss@globex.example"
    outsider.save()
    unverified = live_world.users["org_admin"]
    unverified.email = "unverified.admin@acme.example"
    unverified.save()
    for login in ("boss@globex.example", "unverified.admin@acme.example"):
        session = requests.Session()
        response = sign_in_through(session, f"{live_server.url}/accounts/sso/acme/", login)
        assert "/accounts/login/" in response.url
        assert portal_user(session, live_server) is None
    assert AuditEvent.objects.filter(action="auth.sso_refused").count() == 2


def test_users_are_created_on_first_sign_in_only_when_the_organization_allows_it(live_world, live_server, provider):
    connect(provider, live_world.acme, creates_users=False)
    session = requests.Session()
    sign_in_through(session, f"{live_server.url}/accounts/sso/acme/", "newcomer@acme.example")
    assert not User.objects.filter(email="newcomer@acme.example").exists()
    connect(provider, live_world.acme, creates_users=True, new_user_role="partner")
    session = requests.Session()
    sign_in_through(session, f"{live_server.url}/accounts/sso/acme/", "newcomer@acme.example")
    created = User.objects.get(email="newcomer@acme.example")
    assert (created.role, created.organization) == ("partner", live_world.acme)
    assert not created.has_usable_password()
    assert portal_user(session, live_server) == "newcomer@acme.example"


def test_staff_sign_in_matches_super_admins_only_and_never_creates_one(live_world, live_server, provider, settings):
    settings.TWO_FACTOR_REQUIRED_FOR_SUPER_ADMINS = False
    connect(provider, None)
    root = live_world.users["super_admin"]
    root.email = "root@vendor.example"
    root.save()
    live_world.users["org_admin"].email = "admin@acme.example"
    live_world.users["org_admin"].save()
    session = requests.Session()
    sign_in_through(session, f"{live_server.url}/accounts/sso/staff/", "root@vendor.example")
    assert portal_user(session, live_server) == "root"
    for login in ("admin@acme.example", "stranger@vendor.example"):
        session = requests.Session()
        sign_in_through(session, f"{live_server.url}/accounts/sso/staff/", login)
        assert portal_user(session, live_server) is None
    assert not User.objects.filter(email="stranger@vendor.example").exists()


def test_a_deactivated_users_single_sign_on_session_ends_at_once(live_world, live_server, provider):
    connect(provider, live_world.acme)
    co_admin = live_world.users["co_admin"]
    co_admin.email = "co.admin@acme.example"
    co_admin.save()
    session = requests.Session()
    sign_in_through(session, f"{live_server.url}/accounts/sso/acme/", "co.admin@acme.example")
    assert portal_user(session, live_server) == "acme-coadmin"
    User.objects.filter(pk=co_admin.pk).update(is_active=False)
    assert portal_user(session, live_server) is None
    again = requests.Session()
    sign_in_through(again, f"{live_server.url}/accounts/sso/acme/", "co.admin@acme.example")
    assert portal_user(again, live_server) is None


def test_an_unknown_organization_has_no_single_sign_on(live_world, live_server, provider):
    assert requests.get(f"{live_server.url}/accounts/sso/nowhere/", timeout=10).status_code == 404
    connect(provider, live_world.acme, is_enabled=False)
    assert requests.get(f"{live_server.url}/accounts/sso/acme/", timeout=10).status_code == 404


def test_a_super_admin_sets_it_up_on_a_page_and_the_secret_is_stored_encrypted(live_world, provider, settings):
    from django.test import Client

    settings.TWO_FACTOR_REQUIRED_FOR_SUPER_ADMINS = False
    client = Client()
    client.force_login(live_world.users["super_admin"])
    form = {"issuer": provider.issuer, "client_id": provider.client_id, "client_secret": "s3cret-value"}
    response = client.post("/people/single-sign-on/acme/", {**form, "is_enabled": "on", "new_user_role": "co_admin"})
    assert response.status_code == 302
    bad = client.post(
        "/people/single-sign-on/globex/", {**form, "issuer": "http://127.0.0.1:9", "new_user_role": "co_admin"}
    )
    assert bad.status_code == 400 and "discovery document" in bad.content.decode()
    connection = SingleSignOn.objects.get(organization=live_world.acme)
    assert connection.token_endpoint.startswith(provider.issuer) and "s3cret-value" not in connection.client_secret
    assert AuditEvent.objects.filter(action="sso.create", organization=live_world.acme).exists()
    assert not SingleSignOn.objects.filter(organization=live_world.globex).exists()
    assert client.get("/people/single-sign-on/").status_code == 200

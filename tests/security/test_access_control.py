"""Every state-changing URL of the portal, for every role: the answer each must get, and nothing
changed for those refused. Without a CSRF token every one of them is refused, even for a super-admin.
(The read-only pages are in tests/security/test_page_access.py; a completeness check below ties both to the URLconf.)
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from audit.models import AuditEvent
from environments.models import Environment, Machine, MachineClaim
from integrations.models import APIToken
from licenses.models import LicenseKey, StopgapGrant
from notifications.models import Delivery, WebhookEndpoint
from organizations.models import Organization
from tests.conftest import ROLES
from tests.security.test_page_access import PAGES, acme_delivery, acme_endpoint

ALLOWED, FORBIDDEN, MISSING = "allowed", 403, 404
MANAGERS = {"super_admin": ALLOWED, "org_admin": ALLOWED, "co_admin": ALLOWED, "outsider": MISSING, "partner": MISSING}
SUPER_IN_ORG = {**MANAGERS, "org_admin": FORBIDDEN, "co_admin": FORBIDDEN}
SUPER_ONLY = {role: FORBIDDEN for role in MANAGERS} | {"super_admin": ALLOWED}
ORG_ADMINS = {**MANAGERS, "co_admin": FORBIDDEN}
# The page is open to every manager; another organization's key is "No such license key" (400).
SIGNED_IN_MANAGERS = {**MANAGERS, "outsider": 400, "partner": FORBIDDEN}
EVERYONE_SIGNED_IN = {role: ALLOWED for role in MANAGERS}
# The people pages: super-admins, and each organization's admin for their own organization.
PEOPLE = {
    "super_admin": ALLOWED,
    "org_admin": ALLOWED,
    "co_admin": FORBIDDEN,
    "outsider": ALLOWED,
    "partner": FORBIDDEN,
}
PEOPLE_OF_ACME = {**PEOPLE, "outsider": MISSING}


def soon() -> str:
    return (timezone.now() + timedelta(days=30)).date().isoformat()


# name: (url, POST data, expected per role)
ACTIONS = {
    "organization_create": (
        lambda w: "/organizations/new/",
        lambda w: {"name": "Initech", "edition": "paid"},
        SUPER_ONLY,
    ),
    "organization_edit": (
        lambda w: "/organizations/acme/edit/",
        lambda w: {"name": "Renamed", "slug": "acme", "edition": "free", "transfer_limit": 3},
        SUPER_IN_ORG,
    ),
    "organization_status": (lambda w: "/organizations/acme/status/", lambda w: {"status": "suspended"}, SUPER_IN_ORG),
    "organization_renew": (
        lambda w: "/organizations/acme/renew/",
        lambda w: {"length": "12", "unit": "months"},
        SUPER_IN_ORG,
    ),
    "environment_add": (lambda w: "/organizations/acme/environments/add/", lambda w: {"name": "Sandbox"}, MANAGERS),
    "environment_status": (
        lambda w: f"/organizations/acme/environments/{w.production.uuid}/status/",
        lambda w: {"status": "disabled", "confirm": "yes"},
        MANAGERS,
    ),
    "machine_detach": (
        lambda w: f"/organizations/acme/machines/{w.machine.uid}/detach/",
        lambda w: {"confirm": "yes"},
        MANAGERS,
    ),
    "machine_primary": (
        lambda w: f"/organizations/acme/machines/{w.machine.uid}/primary/",
        lambda w: {"is_primary": "on"},
        MANAGERS,
    ),
    "machine_key_issue": (
        lambda w: "/organizations/acme/licenses/issue/",
        lambda w: {"environment": str(w.production.uuid), "description": "x"},
        ORG_ADMINS,  # not co-admins (AGENT_PROTOCOL.md, "Kinds of key")
    ),
    "temporary_key_generate": (
        lambda w: "/organizations/acme/temporary-keys/generate/",
        lambda w: {"ttl": "3600"},
        SUPER_IN_ORG,
    ),
    "server_key_generate": (
        lambda w: "/organizations/acme/server-keys/generate/",
        lambda w: {"machine_name": "srv9", "expires_on": soon()},
        MANAGERS,
    ),
    "server_key_edit": (
        lambda w: f"/keys/{w.server_key.public_id}/edit/",
        lambda w: {"description": "edited", "status": "inactive", "expires_on": soon()},
        MANAGERS,
    ),
    "server_key_delete": (
        lambda w: "/organizations/acme/server-keys/delete/",
        lambda w: {"keys": [str(w.server_key.public_id)], "confirm": "yes"},
        MANAGERS,
    ),
    "license_revoke": (
        lambda w: f"/keys/{w.machine_key.public_id}/revoke/",
        lambda w: {"reason": "leaked", "confirm": "yes"},
        MANAGERS,
    ),
    "license_reveal": (lambda w: f"/keys/{w.machine_key.public_id}/reveal/", lambda w: {}, MANAGERS),
    # A temporary key is the vendor's: its organization's admins and co-admins see it, nothing more.
    "license_revoke (temporary key)": (
        lambda w: f"/keys/{w.temporary_key.public_id}/revoke/",
        lambda w: {"reason": "leaked", "confirm": "yes"},
        SUPER_IN_ORG,
    ),
    "license_reveal (temporary key)": (
        lambda w: f"/keys/{w.temporary_key.public_id}/reveal/",
        lambda w: {},
        {**SUPER_IN_ORG, "partner": ALLOWED},  # the partner it was issued to
    ),
    "trial_key": (lambda w: "/organizations/acme/trial/", lambda w: {}, ORG_ADMINS),
    "machine_claim": (
        lambda w: "/organizations/acme/machines/claim/",
        lambda w: {"uid": w.globex_machine.uid, "note": "ours"},
        MANAGERS,
    ),
    "machine_claim_decide": (
        lambda w: f"/machine-claims/{w.claim.pk}/",
        lambda w: {"decision": "reject"},
        SUPER_ONLY,
    ),
    "stopgap_grant": (lambda w: "/organizations/acme/trial/grant/", lambda w: {"reason": "late PO"}, SUPER_IN_ORG),
    "manual_activation": (
        lambda w: "/activate/",
        lambda w: {"license_key": w.trial_text, "machine_uid": "AB" * 32},
        SIGNED_IN_MANAGERS,
    ),
    "invitation_create": (
        lambda w: "/people/invite/",
        lambda w: {"email": "new.colleague@example.com", "role": "co_admin", "organization": w.acme.pk},
        PEOPLE,
    ),
    "invitation_resend": (
        lambda w: f"/people/invitations/{w.invitation.uuid}/resend/",
        lambda w: {},
        PEOPLE_OF_ACME,
    ),
    "invitation_cancel": (
        lambda w: f"/people/invitations/{w.invitation.uuid}/cancel/",
        lambda w: {},
        PEOPLE_OF_ACME,
    ),
    "user_role": (
        lambda w: f"/people/{w.users['co_admin'].pk}/role/",
        lambda w: {"role": "org_admin", "organization": w.acme.pk},
        PEOPLE_OF_ACME,
    ),
    "user_active": (
        lambda w: f"/people/{w.users['co_admin'].pk}/active/",
        lambda w: {"active": "false"},
        PEOPLE_OF_ACME,
    ),
    "user_second_factor_reset": (
        lambda w: f"/people/{w.users['co_admin'].pk}/second-factor-reset/",
        lambda w: {},
        {**PEOPLE_OF_ACME, "org_admin": FORBIDDEN},
    ),
    "recovery_codes_renew": (lambda w: "/accounts/two-factor/recovery-codes/", lambda w: {}, EVERYONE_SIGNED_IN),
    "organization_api_tokens": (
        lambda w: "/organizations/acme/api-tokens/",
        lambda w: {"name": "ci", "scopes": ["keys:read"]},
        ORG_ADMINS,
    ),
    "vendor_api_tokens": (lambda w: "/api-tokens/", lambda w: {"name": "crm", "scopes": ["keys:read"]}, SUPER_ONLY),
    "api_token_revoke": (lambda w: f"/api-tokens/{w.acme_token.pk}/revoke/", lambda w: {}, ORG_ADMINS),
    "vendor_webhook_create": (
        lambda w: "/webhooks/new/",
        lambda w: {"url": "https://93.184.215.14/h", "all_events": "on"},
        SUPER_ONLY,
    ),
    "organization_webhook_create": (
        lambda w: "/organizations/acme/webhooks/new/",
        lambda w: {"url": "https://93.184.215.14/h", "all_events": "on"},
        MANAGERS,
    ),
    "webhook_edit": (
        lambda w: f"/webhooks/{acme_endpoint(w).uuid}/edit/",
        lambda w: {"url": "https://93.184.215.14/other", "events": ["license.revoked"]},
        MANAGERS,
    ),
    "webhook_delete": (lambda w: f"/webhooks/{acme_endpoint(w).uuid}/delete/", lambda w: {"confirm": "yes"}, MANAGERS),
    "webhook_delivery_resend": (
        lambda w: f"/webhooks/deliveries/{acme_delivery(w).pk}/resend/",
        lambda w: {},
        MANAGERS,
    ),
}
# URL names that change nothing or belong to Django's own, separately tested flows.
NOT_ACTIONS = {"logout", "login", "password_reset", "password_reset_done", "password_reset_confirm"}
NOT_ACTIONS |= {"password_reset_complete", "password_change", "password_change_done"}
# Signing in and accepting an invitation (before one is signed in): tests/accounts.
NOT_ACTIONS |= {"invitation_accept", "second_factor_verify", "second_factor_enrol", "sso_choose", "sso_start"}
NOT_ACTIONS |= {"sso_callback", "sso_edit"}  # sso_edit: reads the provider's discovery; tests/accounts/test_sso.py
NOT_ACTIONS |= {"set_language"}  # one's own language, signed in or not: tests/core/test_i18n.py


@pytest.fixture
def world(world):
    """The page tests' world, with a machine Globex holds and Acme has claimed (for the claim actions)."""
    from environments.fingerprint import fingerprint_parse
    from environments.services import machine_claim_file
    from integrations.tokens import api_token_create
    from licenses.agent_api.flow import license_activate
    from tests.conftest import OTHER_MACHINE

    fingerprint = fingerprint_parse(OTHER_MACHINE)
    outcome = license_activate(key_text=world.globex_text, uid=fingerprint.uid, fingerprint=fingerprint)
    world.globex_machine = outcome.machine
    world.claim = machine_claim_file(organization=world.acme, actor=None, uid=fingerprint.uid)
    acme_endpoint(world)  # before ``state()`` is taken: its first use makes it
    world.acme_token, _text = api_token_create(
        actor=world.users["org_admin"], name="acme-ci", scopes=["keys:read"], organization=world.acme
    )
    return world


def state() -> tuple:
    """Everything an action could change, as one comparable value."""
    from accounts.models import Invitation
    from organizations.models import User

    return (
        list(Organization.objects.order_by("pk").values_list("name", "status", "edition", "subscription_ends_at")),
        list(User.objects.order_by("pk").values_list("role", "organization", "is_active")),
        list(Invitation.objects.order_by("pk").values_list("token_digest", "cancelled_at")),
        list(Environment.objects.order_by("pk").values_list("name", "enabled", "deleted_at")),
        list(Machine.objects.order_by("pk").values_list("organization", "is_primary")),
        list(MachineClaim.objects.order_by("pk").values_list("status", "claimant")),
        list(LicenseKey.objects.order_by("pk").values_list("status", "machine", "description", "deleted_at")),
        AuditEvent.objects.exclude(action__in=["access.denied", "license.reveal"]).count(),
        StopgapGrant.objects.count(),
        list(APIToken.objects.order_by("pk").values_list("name", "revoked_at")),
        list(WebhookEndpoint.objects.order_by("pk").values_list("url", "events", "enabled")),
        list(Delivery.objects.order_by("pk").values_list("status", "attempts", "next_attempt_at")),
    )


CASES = [(name, role) for name in ACTIONS for role in ROLES]


@pytest.mark.parametrize(("name", "role"), CASES, ids=[f"{name}-{role}" for name, role in CASES])
def test_action_for_role(world, name, role):
    url_for, data_for, expected = ACTIONS[name]
    before = state()
    response = world.client(role).post(url_for(world), data_for(world))
    if role == "anonymous":
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
        assert state() == before
        return
    if expected[role] == ALLOWED:
        assert response.status_code in (200, 302), (name, role, response.status_code)
        return
    assert response.status_code == expected[role], (name, role, response.status_code)
    assert state() == before, f"{role} changed something through {name}"
    if expected[role] in (FORBIDDEN, MISSING):  # refused permissions are audited
        denied = AuditEvent.objects.filter(action="access.denied", actor=world.users[role]).first()
        assert denied is not None and url_for(world) in denied.object_repr


def test_allowed_actions_do_what_they_say(world):
    """A sample of the allowed answers above really changed the state (the table is not vacuous)."""
    admin = world.client("super_admin")
    admin.post(f"/keys/{world.machine_key.public_id}/revoke/", {"reason": "leaked", "confirm": "yes"})
    assert LicenseKey.objects.get(pk=world.machine_key.pk).status == "revoked"
    world.client("co_admin").post("/organizations/acme/environments/add/", {"name": "Sandbox"})
    assert Environment.objects.filter(organization=world.acme, name="Sandbox").exists()


@pytest.mark.parametrize("name", ACTIONS)
def test_no_csrf_token_no_change(world, name):
    url_for, data_for, _ = ACTIONS[name]
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.users["super_admin"])
    before = state()
    response = client.post(url_for(world), data_for(world))
    assert response.status_code == 403
    assert state() == before


def test_sign_out_needs_a_post_with_csrf(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.users["org_admin"])
    assert client.get("/accounts/logout/").status_code == 405
    assert client.post("/accounts/logout/").status_code == 403
    assert client.get("/").status_code == 200  # still signed in


def _url_names(resolver=None, namespace="") -> set[str]:
    names = set()
    for pattern in (resolver or get_resolver()).url_patterns:
        if isinstance(pattern, URLResolver):
            # Django's admin, and the management API (its access rules: tests/integrations/test_api_access.py).
            if pattern.namespace not in ("admin", "manage_api"):
                names |= _url_names(pattern, pattern.namespace or namespace)
        elif isinstance(pattern, URLPattern) and pattern.name:
            names.add(pattern.name)
    return names


def test_every_portal_url_is_in_an_access_table(world):
    """A new page or action cannot slip in without an access test."""
    from django.urls import resolve

    pages = {resolve(url_for(world).split("?")[0]).url_name for url_for, _ in PAGES.values()}
    covered = pages | set(ACTIONS) | NOT_ACTIONS
    missing = {
        name for name in _url_names() if name not in covered and not name.startswith(("api_", "well_known", "healthz"))
    }
    assert not missing, f"URLs without an access test: {sorted(missing)}"

"""API tokens: their format, digest-only storage, the pages that make and revoke them, the command,
and when a token is dead (revoked, expired, its creator deactivated or demoted)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.management.base import CommandError
from django.utils import timezone

from audit.models import AuditEvent
from integrations.models import APIToken
from integrations.tokens import api_token_create, api_token_revoke, checksum, token_digest, token_well_formed
from tests.conftest import command
from tests.integrations.conftest import ALL_SCOPES, API, error_of

pytestmark = [pytest.mark.django_db]

SHOWN = re.compile(r'<code class="secret" id="new-token"[^>]*>(lpat_[^<]+)</code>')


def test_a_token_has_the_prefix_160_random_bits_and_a_checksum_and_only_its_digest_is_stored(world):
    token, text = api_token_create(actor=world.users["super_admin"], name="billing", scopes=["keys:read"])
    prefix, random_part, check = text.split("_")
    assert prefix == "lpat" and len(random_part) == 27 and 62**27 >= 2**160
    assert check == checksum(random_part) and token_well_formed(text)
    assert not token_well_formed(text[:-1] + ("A" if text[-1] != "A" else "B"))  # a look-alike
    token.refresh_from_db()
    assert token.digest == token_digest(text) and text not in str(APIToken.objects.filter(pk=token.pk).values().get())
    assert text.startswith(token.prefix)


def test_an_org_admin_creates_a_token_on_the_organization_tab_shown_once_and_never_cached(world):
    client = world.client("org_admin")
    page = client.get("/organizations/acme/api-tokens/")
    assert page.status_code == 200 and "organizations:write" not in page.content.decode()
    response = client.post(
        "/organizations/acme/api-tokens/",
        {"name": "acme-ci", "scopes": ["keys:read", "keys:write"], "expires_in_days": "30"},
    )
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store, private"
    text = SHOWN.search(response.content.decode()).group(1)
    token = APIToken.objects.get(name="acme-ci")
    assert token.organization == world.acme and token.created_by == world.users["org_admin"]
    assert sorted(token.scopes) == ["keys:read", "keys:write"]
    assert text not in client.get("/organizations/acme/api-tokens/").content.decode()  # shown once
    event = AuditEvent.objects.get(action="api_token.create")
    assert event.organization == world.acme and event.actor_label == "acme-admin"
    assert API(text).get("/organizations/acme/keys").status_code == 200


def test_organization_writes_are_refused_to_an_organization_token(world):
    client = world.client("org_admin")
    response = client.post("/organizations/acme/api-tokens/", {"name": "x", "scopes": ["organizations:write"]})
    assert response.status_code == 400 and not APIToken.objects.exists()
    with pytest.raises(Exception, match="vendor token"):
        api_token_create(
            actor=world.users["super_admin"], name="x", scopes=["organizations:write"], organization=world.acme
        )


@pytest.mark.parametrize("role", ["co_admin", "outsider", "partner"])
def test_others_may_not_open_an_organizations_tokens(world, role):
    response = world.client(role).get("/organizations/acme/api-tokens/")
    assert response.status_code in (403, 404)
    response = world.client(role).post("/organizations/acme/api-tokens/", {"name": "x", "scopes": ["keys:read"]})
    assert response.status_code in (403, 404) and not APIToken.objects.exists()


@pytest.mark.parametrize("role", ["org_admin", "co_admin", "partner"])
def test_only_super_admins_open_the_vendor_tokens_page(world, role):
    assert world.client(role).get("/api-tokens/").status_code == 403


def test_a_super_admin_makes_vendor_tokens_and_revokes_them(world):
    client = world.client("super_admin")
    response = client.post("/api-tokens/", {"name": "crm", "scopes": ALL_SCOPES})
    text = SHOWN.search(response.content.decode()).group(1)
    token = APIToken.objects.get(name="crm")
    assert token.organization is None and "organizations:write" in token.scopes
    assert API(text).get("/organizations").status_code == 200
    assert client.post(f"/api-tokens/{token.pk}/revoke/").status_code == 302
    assert error_of(API(text).get("/organizations"))["code"] == "UNAUTHENTICATED"
    assert AuditEvent.objects.filter(action="api_token.revoke", object_id=str(token.pk)).exists()
    assert "Revoked" in client.get("/api-tokens/").content.decode()


def test_the_tab_is_offered_to_the_organizations_admin_only(world):
    tab = "/organizations/acme/api-tokens/"
    assert tab in world.client("org_admin").get("/organizations/acme/").content.decode()
    assert tab in world.client("super_admin").get("/organizations/acme/").content.decode()
    assert tab not in world.client("co_admin").get("/organizations/acme/").content.decode()


def test_another_organizations_admin_cannot_revoke_its_token(world, acme):
    token = APIToken.objects.get(name="acme-ci")
    assert world.client("outsider").post(f"/api-tokens/{token.pk}/revoke/").status_code == 404
    assert world.client("co_admin").post(f"/api-tokens/{token.pk}/revoke/").status_code == 403
    token.refresh_from_db()
    assert token.revoked_at is None


def test_a_token_dies_when_expired_revoked_or_its_creator_deactivated(world):
    admin = world.users["org_admin"]
    token, text = api_token_create(actor=admin, name="ci", scopes=["keys:read"], organization=world.acme)
    api = API(text)
    assert api.get("/organizations/acme/keys").status_code == 200
    APIToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert api.get("/organizations/acme/keys").status_code == 401
    APIToken.objects.filter(pk=token.pk).update(expires_at=None)
    admin.is_active = False
    admin.save()
    assert api.get("/organizations/acme/keys").status_code == 401
    admin.is_active = True
    admin.save()
    assert api.get("/organizations/acme/keys").status_code == 200
    api_token_revoke(token=token, actor=admin)
    assert api.get("/organizations/acme/keys").status_code == 401


def test_a_token_never_exceeds_its_creators_current_role(world):
    admin = world.users["org_admin"]
    _token, text = api_token_create(actor=admin, name="ci", scopes=["keys:read"], organization=world.acme)
    admin.role = admin.Role.CO_ADMIN  # demoted: co-admins make no tokens, so theirs do nothing
    admin.save()
    assert API(text).get("/organizations/acme/keys").status_code == 401
    root = world.users["super_admin"]
    _token, vendor_text = api_token_create(actor=root, name="crm", scopes=["organizations:write", "keys:read"])
    root.role, root.is_superuser, root.organization = root.Role.ORG_ADMIN, False, world.acme
    root.save()
    api = API(vendor_text)  # the former super-admin's vendor token no longer reaches anything
    assert api.get("/organizations/acme/keys").status_code == 401


def test_last_used_is_recorded(world, acme):
    token = APIToken.objects.get(name="acme-ci")
    assert token.last_used_at is None
    acme.get("/organizations/acme")
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_create_api_token_command_follows_the_contract(world):
    """ADMIN_COMMANDS.md: ``create_api_token (--vendor | --organization ORG) --name TEXT --scopes a,b
    [--expires-days N]`` (90 by default) and ``revoke_api_token ID``."""
    from datetime import timedelta

    from django.utils import timezone
    from django.utils.dateparse import parse_datetime

    answer = command("create_api_token", "--vendor", "--name", "billing", "--scopes", "organizations:write,keys:write")
    assert answer["token"].startswith("lpat_") and answer["organization"] is None
    assert answer["scopes"] == ["keys:write", "organizations:write"]
    ends = parse_datetime(answer["expires_at"])
    assert timedelta(days=89) < ends - timezone.now() <= timedelta(days=90)
    assert API(answer["token"]).post("/organizations", {"name": "Initech"}).status_code == 201
    answer = command(
        "create_api_token", "--organization", "acme", "--name", "ci", "--scopes", "keys:read", "--expires-days", "7"
    )
    assert answer["organization"] == str(world.acme.uuid) and answer["expires_at"].endswith("Z")
    assert API(answer["token"]).get("/organizations/acme/keys").status_code == 200
    assert API(answer["token"]).get("/organizations/globex/keys").status_code == 404  # its reach is acme only
    with pytest.raises(CommandError, match="vendor token"):
        command("create_api_token", "--organization", "acme", "--name", "x", "--scopes", "organizations:write")
    with pytest.raises(CommandError, match="Unknown scope"):
        command("create_api_token", "--vendor", "--name", "x", "--scopes", "keys:everything")
    with pytest.raises(CommandError):
        command(
            "create_api_token",
            "--organization",
            "acme",
            "--name",
            "x",
            "--scopes",
            "keys:read",
            "--user",
            "acme-coadmin",
        )
    with pytest.raises(CommandError, match="No user"):
        command("create_api_token", "--vendor", "--name", "x", "--scopes", "keys:read", "--user", "nobody")
    assert AuditEvent.objects.filter(action="api_token.create", actor_label="system (command line)").count() == 2

    revoked = command("revoke_api_token", str(answer["id"]))
    assert revoked["id"] == answer["id"] and revoked["revoked_at"].endswith("Z")
    assert API(answer["token"]).get("/organizations/acme/keys").status_code == 401
    with pytest.raises(CommandError, match="already revoked"):
        command("revoke_api_token", str(answer["id"]))
    with pytest.raises(CommandError, match="No API token"):
        command("revoke_api_token", "999999")


def test_a_token_made_for_a_user_dies_with_their_account(world):
    from accounts.services import user_set_active

    answer = command(
        "create_api_token", "--organization", "acme", "--name", "ci", "--scopes", "keys:read", "--user", "acme-admin"
    )
    assert API(answer["token"]).get("/organizations/acme/keys").status_code == 200
    user_set_active(actor=world.users["super_admin"], user=world.users["org_admin"], active=False)
    assert API(answer["token"]).get("/organizations/acme/keys").status_code == 401


def test_the_django_admin_shows_tokens_without_their_digest(world, acme):
    token = APIToken.objects.get(name="acme-ci")
    client = world.client("super_admin")
    for url in ("/admin/integrations/apitoken/", f"/admin/integrations/apitoken/{token.pk}/change/"):
        response = client.get(url)
        assert response.status_code == 200 and token.digest not in response.content.decode()
    assert world.client("org_admin").get("/admin/integrations/apitoken/").status_code in (302, 403)

"""The API-token pages in German for a user who chose German: every text, messages and errors too."""

from __future__ import annotations

import pytest

from integrations.models import APIToken
from tests.core.test_i18n import _allowed, english_left

pytestmark = [pytest.mark.django_db]


def german_user(world, role: str):
    user = world.users[role]
    user.language = "de"
    user.save(update_fields=["language"])
    return world.client(role)


def test_the_organization_tab_is_german_with_a_token_listed(world):
    client = german_user(world, "org_admin")
    created = client.post(
        "/organizations/acme/api-tokens/", {"name": "acme-ci", "scopes": ["keys:read"], "expires_in_days": "30"}
    )
    html = created.content.decode()
    assert "Token acme-ci angelegt" in html and "Kopieren Sie es jetzt" in html
    html = client.get("/organizations/acme/api-tokens/").content.decode()
    assert '<html lang="de">' in html
    for text in ("Ein API-Token anlegen", "Berechtigungen", "Schlüssel und ihren Verlauf lesen", "Zuletzt verwendet"):
        assert text in html, text
    assert "Aktiv</span>" in html and ">nie<" in html
    assert english_left(html, _allowed(world) | {"acme-ci", "keys:read"}) == []


def test_the_vendor_page_its_errors_and_the_revoke_message_are_german(world):
    client = german_user(world, "super_admin")
    html = client.get("/api-tokens/").content.decode()
    assert "API-Tokens des Herstellers" in html and "Noch keine API-Tokens." in html
    assert english_left(html, _allowed(world)) == []
    refused = client.post("/api-tokens/", {"name": "crm", "scopes": []})
    assert refused.status_code == 400
    client.post("/api-tokens/", {"name": "crm", "scopes": ["keys:read"]})
    token = APIToken.objects.get(name="crm")
    revoked = client.post(f"/api-tokens/{token.pk}/revoke/", follow=True).content.decode()
    assert "Das Token crm ist widerrufen." in revoked and "Widerrufen</span>" in revoked


def test_an_english_user_still_reads_english(world):
    html = world.client("org_admin").get("/organizations/acme/api-tokens/").content.decode()
    assert "Create an API token" in html and "Read keys and their history" in html

"""Who reaches what: 401 without a live token, 403 without the scope, 404 for another organization's
objects (the same answer as for none), and an organization token sees only its organization."""

from __future__ import annotations

import pytest

from integrations.tokens import api_token_create
from tests.integrations.conftest import API, error_of

pytestmark = [pytest.mark.django_db]


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Bearer nonsense", "Basic cm9vdDpwdw==", "Bearer lpat_aaaaaaaaaaaaaaaaaaaaaaaaaaa_aaaaaa"],
)
def test_a_missing_malformed_or_unknown_token_gets_401_in_the_contracts_shape(world, authorization):
    api = API(None)
    headers = {"Authorization": authorization} if authorization else {}
    response = api.get("/organizations", headers=headers)
    assert response.status_code == 401 and response["WWW-Authenticate"] == "Bearer"
    assert error_of(response)["code"] == "UNAUTHENTICATED"


def test_a_real_looking_token_that_was_never_issued_gets_401(world):
    from integrations.tokens import token_generate

    assert API(token_generate()).get("/organizations").status_code == 401


def test_cookies_are_not_credentials(world):
    client = world.client("super_admin")  # signed in to the portal
    response = client.get("/api/manage/v1/organizations")
    assert response.status_code == 401


def test_a_token_without_the_scope_gets_403(world):
    _token, text = api_token_create(actor=world.users["super_admin"], name="ro", scopes=["keys:read"])
    api = API(text)
    for response in (
        api.get("/organizations"),
        api.post("/organizations", {"name": "Initech"}),
        api.post(f"/keys/{world.machine_key.public_id}/revoke", {}),
        api.get("/audit-events"),
        api.get("/organizations/acme/machines"),
    ):
        assert response.status_code == 403 and error_of(response)["code"] == "FORBIDDEN"
    assert api.get(f"/keys/{world.machine_key.public_id}").status_code == 200


def test_an_organization_token_sees_its_organization_only(world, acme):
    assert [row["slug"] for row in acme.get("/organizations").json()["data"]] == ["acme"]
    assert acme.get("/organizations/acme").status_code == 200
    globex = str(world.globex.uuid)
    for response in (
        acme.get("/organizations/globex"),
        acme.get(f"/organizations/{globex}"),
        acme.get("/organizations/globex/keys"),
        acme.get("/organizations/globex/machines"),
        acme.get("/organizations/globex/environments"),
        acme.post("/organizations/globex/environments", {"name": "Stolen"}),
        acme.post("/organizations/globex/keys", {"kind": "trial"}),
        acme.get(f"/keys/{world.globex_key.public_id}"),
        acme.get(f"/keys/{world.globex_key.public_id}/history"),
        acme.post(f"/keys/{world.globex_key.public_id}/revoke", {}),
        acme.get("/audit-events", organization="globex"),
    ):
        assert response.status_code == 404, response.content
        assert error_of(response)["code"] == "NOT_FOUND"
    # the same answer as for an organization that does not exist
    assert error_of(acme.get("/organizations/globex")) == error_of(acme.get("/organizations/no-such"))
    organizations = {row["organization"] for row in acme.get("/audit-events").json()["data"]}
    assert organizations == {"acme"}


def test_an_organization_token_cannot_change_organizations(world, acme):
    assert acme.post("/organizations", {"name": "Initech"}).status_code == 403
    assert acme.post("/organizations/acme/renew", {"months": 12}).status_code == 403
    assert acme.post("/organizations/acme/suspend").status_code == 403
    assert acme.patch("/organizations/acme", {"transfer_limit": 99}).status_code == 403


def test_an_organization_token_issues_only_the_kinds_its_creator_may(world, acme):
    response = acme.post("/organizations/acme/keys", {"kind": "temporary", "ttl": "2h"})
    assert response.status_code == 403  # temporary keys are the vendor's
    response = acme.post("/organizations/acme/keys", {"kind": "machine", "environment": "production"})
    assert response.status_code == 201


def test_a_machine_of_another_organization_is_not_found(world, acme):
    from environments.models import Machine

    machine = Machine.objects.create(
        uid="b" * 64,
        organization=world.globex,
        bound_at=world.machine.bound_at,
        first_seen_at=world.machine.first_seen_at,
        last_seen_at=world.machine.last_seen_at,
    )
    assert acme.post(f"/machines/{machine.uid}/detach").status_code == 404
    machine.refresh_from_db()
    assert machine.organization == world.globex

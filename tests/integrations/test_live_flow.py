"""An integrator's session through gunicorn and PostgreSQL, as docs/MANAGEMENT_API.md tells it: a
token from the command line, then an organization created, renewed, a key issued (and a retry of
it answered the same), the key revoked; the audit log names the token."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.conftest import command
from tests.support.servers import gunicorn

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def call(url: str, token: str, method: str, path: str, body=None, headers=None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{url}/api/manage/v1{path}", data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.django_db(transaction=True)
def test_create_renew_issue_revoke_through_gunicorn(fast_passwords):
    scopes = "organizations:write,organizations:read,machines:write,keys:write,keys:read,audit:read"
    token = command("create_api_token", "--vendor", "--name", "billing", "--scopes", scopes)["token"]
    with gunicorn(workers=2) as (_process, url):
        status, organization = call(url, token, "POST", "/organizations", {"name": "Initech", "subscription_days": 30})
        assert status == 201
        slug = organization["slug"]
        status, renewed = call(url, token, "POST", f"/organizations/{slug}/renew", {"months": 12})
        assert status == 200 and renewed["subscription_ends_at"] > organization["subscription_ends_at"]
        assert call(url, token, "POST", f"/organizations/{slug}/environments", {"name": "Production"})[0] == 201
        issue = {"kind": "machine", "environment": "Production"}
        retry = {"Idempotency-Key": "order-42"}
        status, issued = call(url, token, "POST", f"/organizations/{slug}/keys", issue, headers=retry)
        assert status == 201 and issued["key"]
        assert call(url, token, "POST", f"/organizations/{slug}/keys", issue, headers=retry) == (201, issued)
        status, keys = call(url, token, "GET", f"/organizations/{slug}/keys")
        assert [key["id"] for key in keys["data"]] == [issued["id"]]
        status, revoked = call(url, token, "POST", f"/keys/{issued['id']}/revoke", {"reason": "refunded"})
        assert status == 200 and revoked["status"] == "revoked"
        status, events = call(url, token, "GET", f"/audit-events?organization={slug}")
        actions = [event["action"] for event in events["data"]]
        assert actions == [
            "license.revoke",
            "license.issue",
            "environment.create",
            "organization.renew",
            "organization.create",
        ]
        assert {event["actor"].split(" (")[0] for event in events["data"]} == {"API token billing"}
        status, error = call(url, "lpat_nonsense", "GET", "/organizations")
        assert status == 401 and error["error"]["code"] == "UNAUTHENTICATED"

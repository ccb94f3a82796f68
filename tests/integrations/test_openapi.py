"""The served OpenAPI 3.1 document is true: every answer of a tour through the API, errors included,
has a documented status and validates against its documented schema; the interactive docs are
served from the portal's own static files (no CDN)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from jsonschema import Draft202012Validator

from tests.integrations.conftest import API

pytestmark = [pytest.mark.django_db]

BASE = "/api/manage/v1"


@pytest.fixture
def document(world):
    response = Client().get(f"{BASE}/openapi.json")
    assert response.status_code == 200 and response["Content-Type"].startswith("application/json")
    return response.json()


def _operation(document: dict, method: str, path: str) -> dict:
    """The document's operation whose path template matches ``path``."""
    for template, methods in document["paths"].items():
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if re.match(pattern, path) and method in methods:
            return methods[method]
    raise AssertionError(f"{method.upper()} {path} is not in the document")


def check(document: dict, method: str, path: str, response) -> None:
    operation = _operation(document, method, path)
    documented = operation["responses"].get(str(response.status_code))
    assert documented is not None, f"{method.upper()} {path} answered an undocumented {response.status_code}"
    schema = {"$ref": documented["content"]["application/json"]["schema"]["$ref"], **document}
    errors = sorted(Draft202012Validator(schema).iter_errors(response.json()), key=str)
    assert not errors, f"{method.upper()} {path} {response.status_code}: {errors[0].message}"


def test_the_document_is_openapi_3_1_with_every_resource_and_the_bearer_scheme(document):
    assert document["openapi"] == "3.1.0"
    Draft202012Validator.check_schema({"$defs": document["components"]["schemas"]})
    assert document["components"]["securitySchemes"]["BearerToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": document["components"]["securitySchemes"]["BearerToken"]["description"],
    }
    paths = {path.removeprefix(BASE) for path in document["paths"]}
    assert {
        "/organizations",
        "/organizations/{org}",
        "/organizations/{org}/renew",
        "/organizations/{org}/suspend",
        "/organizations/{org}/resume",
        "/organizations/{org}/environments",
        "/organizations/{org}/environments/{name}",
        "/organizations/{org}/machines",
        "/machines/{uid}/detach",
        "/organizations/{org}/keys",
        "/keys/{key_id}",
        "/keys/{key_id}/revoke",
        "/keys/{key_id}/history",
        "/audit-events",
    } <= paths
    for methods in document["paths"].values():
        if "post" in methods:
            assert "Idempotency-Key" in [parameter["name"] for parameter in methods["post"]["parameters"]]


def test_real_answers_validate_against_the_document(world, document, vendor, acme):
    expires = (timezone.now() + timedelta(days=30)).date().isoformat()
    key = str(world.machine_key.public_id)
    calls = [
        (vendor, "get", "/organizations", None),
        (vendor, "get", "/organizations?limit=1", None),
        (vendor, "post", "/organizations", {"name": "Initech", "subscription_days": 30}),
        (vendor, "post", "/organizations", {"name": ""}),
        (vendor, "get", "/organizations/acme", None),
        (vendor, "patch", "/organizations/acme", {"transfer_limit": 4}),
        (vendor, "post", "/organizations/acme/renew", {"months": 12}),
        (vendor, "post", "/organizations/acme/suspend", None),
        (vendor, "post", "/organizations/acme/resume", None),
        (acme, "post", "/organizations", {"name": "Nope"}),
        (acme, "get", "/organizations/globex", None),
        (acme, "get", "/organizations/acme/environments", None),
        (acme, "post", "/organizations/acme/environments", {"name": "Staging"}),
        (acme, "patch", "/organizations/acme/environments/Staging", {"status": "disabled"}),
        (acme, "get", "/organizations/acme/machines", None),
        (acme, "get", "/organizations/acme/keys?kind=machine", None),
        (vendor, "post", "/organizations/acme/keys", {"kind": "server", "machine_name": "h", "expires_on": expires}),
        (vendor, "post", "/organizations/acme/keys", {"kind": "machine"}),
        (acme, "get", f"/keys/{key}", None),
        (acme, "get", f"/keys/{key}/history", None),
        (acme, "patch", f"/keys/{world.server_key.public_id}", {"description": "rack 2"}),
        (acme, "patch", f"/keys/{key}", {"description": "x"}),
        (acme, "post", f"/machines/{world.machine.uid}/detach", None),
        (acme, "post", f"/keys/{key}/revoke", {"reason": "leaked"}),
        (acme, "post", f"/keys/{key}/revoke", {"reason": "leaked"}),
        (acme, "get", "/audit-events?action=license.", None),
        (API(None), "get", "/audit-events", None),
        (vendor, "get", "/audit-events?limit=500", None),
    ]
    for api, method, path, body in calls:
        response = api.get(path) if method == "get" else api.call(method, path, body)
        check(document, method, BASE + path.split("?")[0], response)


def test_the_interactive_docs_are_served_by_the_portal_without_a_cdn(world):
    client = Client()
    response = client.get(f"{BASE}/docs")
    assert response.status_code == 200
    page = response.content.decode()
    assert f"{BASE}/openapi.json" in page
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert any(asset.endswith("swagger-ui-bundle.js") for asset in assets)
    for asset in assets:
        assert asset.startswith("/static/"), f"{asset} is not one of the portal's static files"
        assert client.get(asset).status_code == 200, asset
    assert "cdn" not in page.lower() and "https://" not in page and "http://" not in page
    assert "script-src 'self';" in response["Content-Security-Policy"]

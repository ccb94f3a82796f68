"""The served OpenAPI 3.1 document is true: real answers of every endpoint validate against it."""

from __future__ import annotations

import json

import jsonschema
import pytest
from django.test import Client
from django.urls import reverse

from tests.conftest import FINGERPRINT


@pytest.fixture
def document(db):
    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.json()


def check(document, path, method, response):
    operation = document["paths"][path][method]
    spec = operation["responses"][str(response.status_code)]
    schema = {**spec["content"]["application/json"]["schema"], "components": document["components"]}
    jsonschema.validate(response.json(), schema, cls=jsonschema.Draft202012Validator)
    for header in spec.get("headers", {}):
        assert header in response, f"{path} {response.status_code} lacks {header}"


def test_document_is_openapi_3_1_and_lists_every_route(document):
    assert document["openapi"] == "3.1.0"
    for name in ("api_activate", "api_validate", "api_deactivate", "api_jwks", "well_known_jwks", "healthz"):
        assert reverse(name) in document["paths"]
    jsonschema.Draft202012Validator.check_schema({"$defs": document["components"]["schemas"]})


@pytest.mark.parametrize("endpoint", ["activate", "validate", "deactivate"])
def test_verdicts_and_errors_match_the_document(document, machine_key, endpoint):
    client, path = Client(), f"/api/v1/{endpoint}"
    bodies = [
        {"license_key": machine_key["key"], "fingerprint": FINGERPRINT, "nonce": "x"},
        {"license_key": "nope", "fingerprint": FINGERPRINT},
        {"license_key": machine_key["key"], "fingerprint": {**FINGERPRINT, "hostname": "elsewhere"}},
        {"license_key": machine_key["key"]},
    ]
    for body in bodies:
        response = client.post(path, json.dumps(body), content_type="application/json")
        check(document, path, "post", response)
    check(document, path, "post", client.post(path, "x", content_type="text/plain"))
    check(document, path, "post", client.post(path, "x" * 17000, content_type="application/json"))


def test_public_endpoints_match_the_document(document):
    client = Client()
    for path in ("/api/v1/jwks", "/.well-known/jwks.json", "/healthz"):
        check(document, path, "get", client.get(path))

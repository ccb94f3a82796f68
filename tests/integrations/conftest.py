"""The management API's tests: tokens of the world's users, and a client that sends them."""

from __future__ import annotations

import json

import pytest
from django.test import Client

ALL_SCOPES = [
    "organizations:read",
    "organizations:write",
    "keys:read",
    "keys:write",
    "machines:read",
    "machines:write",
    "audit:read",
    "webhooks:write",
]
ORGANIZATION_SCOPES = [scope for scope in ALL_SCOPES if scope != "organizations:write"]


def api_token_create(**arguments):
    from integrations.tokens import api_token_create

    return api_token_create(**arguments)


class API:
    """Calls ``/api/manage/v1/`` with a bearer token, JSON in and out."""

    base = "/api/manage/v1"

    def __init__(self, token: str | None):
        self.client = Client()
        self.token = token

    def call(self, method: str, path: str, body=None, headers: dict | None = None, **query):
        extra = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in (headers or {}).items()}
        if self.token is not None:
            extra["HTTP_AUTHORIZATION"] = f"Bearer {self.token}"
        url = self.base + path
        if method == "get":
            return self.client.get(url, query, **extra)
        data = json.dumps(body) if body is not None else ""
        return getattr(self.client, method)(url, data, content_type="application/json", **extra)

    def get(self, path, **query):
        return self.call("get", path, **query)

    def post(self, path, body=None, **kwargs):
        return self.call("post", path, body, **kwargs)

    def patch(self, path, body=None, **kwargs):
        return self.call("patch", path, body, **kwargs)


@pytest.fixture
def vendor(world) -> API:
    """A vendor token of every scope, made by the world's super-admin."""
    _token, text = api_token_create(actor=world.users["super_admin"], name="billing", scopes=ALL_SCOPES)
    return API(text)


@pytest.fixture
def acme(world) -> API:
    """An Acme token of every scope an organization token may have, made by Acme's admin."""
    _token, text = api_token_create(
        actor=world.users["org_admin"], name="acme-ci", scopes=ORGANIZATION_SCOPES, organization=world.acme
    )
    return API(text)


def error_of(response) -> dict:
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    return response.json()["error"]

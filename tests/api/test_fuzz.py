"""Fuzz the agent API from its own OpenAPI document (schemathesis) against a live server:
no 5xx, and every answer matches the document."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.slow

OPERATIONS = [
    ("/api/v1/activate", "POST"),
    ("/api/v1/validate", "POST"),
    ("/api/v1/deactivate", "POST"),
    ("/api/v1/jwks", "GET"),
    ("/.well-known/jwks.json", "GET"),
    ("/healthz", "GET"),
]


@pytest.fixture
def api_schema(live_server, transactional_db, settings):
    settings.API_RATE_LIMIT_PER_IP = 100_000
    settings.API_RATE_LIMIT_PER_KEY = 100_000
    return schemathesis.openapi.from_url(f"{live_server.url}/api/v1/openapi.json")


@pytest.mark.parametrize(("path", "method"), OPERATIONS)
def test_agent_api_conforms_to_its_document(api_schema, live_server, path, method):
    operation = api_schema[path][method]

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(data=st.data())
    def check(data):
        case = data.draw(operation.as_strategy())
        response = case.call_and_validate(base_url=live_server.url)
        assert response.status_code < 500

    check()

"""Transport errors: JSON always, in the protocol's order of checks, never HTML."""

from __future__ import annotations

import json

import pytest
from django.test import Client, override_settings

from tests.conftest import FINGERPRINT


def post(client, path, body, content_type="application/json"):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(path, data, content_type=content_type)


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["detail"]
    return response.json()["error"]["detail"]


@pytest.fixture
def client():
    return Client()


@pytest.mark.django_db
def test_unknown_api_route_is_json_404(client):
    assert_error(client.get("/api/v1/nothing"), 404, "NOT_FOUND_ROUTE")
    assert_error(client.post("/api/v2/activate", "{}", content_type="application/json"), 404, "NOT_FOUND_ROUTE")


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", ["activate", "validate", "deactivate"])
def test_wrong_method_is_405_before_content_type(client, endpoint):
    response = client.get(f"/api/v1/{endpoint}", content_type="text/plain")
    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert response["Allow"] == "POST"
    assert_error(client.put(f"/api/v1/{endpoint}", "x", content_type="text/plain"), 405, "METHOD_NOT_ALLOWED")


@pytest.mark.django_db
def test_jwks_refuses_post(client):
    assert_error(client.post("/api/v1/jwks"), 405, "METHOD_NOT_ALLOWED")


@pytest.mark.django_db
def test_content_type_is_checked_before_size(client):
    huge = "x" * 20000
    assert_error(post(client, "/api/v1/activate", huge, content_type="text/plain"), 415, "UNSUPPORTED_MEDIA_TYPE")
    assert_error(post(client, "/api/v1/activate", huge), 413, "TOO_LARGE")


@pytest.mark.django_db
def test_content_type_with_charset_is_accepted(client, machine_key):
    body = {"license_key": machine_key["key"], "fingerprint": FINGERPRINT}
    response = post(client, "/api/v1/activate", body, content_type="application/json; charset=utf-8")
    assert response.status_code == 200


@pytest.mark.django_db
def test_body_of_exactly_16_kib_is_read(client):
    body = json.dumps({"license_key": "x", "fingerprint": FINGERPRINT, "padding": ""})
    body = body.replace('"padding": ""', '"padding": "' + "p" * (16 * 1024 - len(body)) + '"')
    assert len(body) == 16 * 1024
    assert post(client, "/api/v1/validate", body).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("{not json", "JSON"),
        ("[1, 2]", "object"),
        ({"fingerprint": FINGERPRINT}, "license_key"),
        ({"license_key": 42, "fingerprint": FINGERPRINT}, "license_key"),
        ({"license_key": "k"}, "fingerprint"),
        ({"license_key": "k", "fingerprint": {**FINGERPRINT, "mac": None}}, "fingerprint.mac"),
        ({"license_key": "k", "fingerprint": {**FINGERPRINT, "cpu_id": "   "}}, "fingerprint.cpu_id"),
        ({"license_key": "k", "fingerprint": {**FINGERPRINT, "hostname": ""}}, "fingerprint.hostname"),
        ({"license_key": "k", "fingerprint": {**FINGERPRINT, "product_version": " "}}, "fingerprint.product_version"),
        ({"license_key": "k", "fingerprint": FINGERPRINT, "nonce": "has space"}, "nonce"),
        ({"license_key": "k", "fingerprint": FINGERPRINT, "nonce": "n" * 65}, "nonce"),
        ({"license_key": "k", "fingerprint": FINGERPRINT, "machine_name": 7}, "machine_name"),
    ],
)
def test_malformed_requests_name_the_field(client, body, field):
    detail = assert_error(post(client, "/api/v1/activate", body), 400, "BAD_REQUEST")
    assert field in detail


@pytest.mark.django_db
def test_null_optional_fields_mean_not_given_and_unknown_fields_are_ignored(client, machine_key):
    body = {"license_key": machine_key["key"], "fingerprint": FINGERPRINT, "nonce": None, "machine_name": None, "x": 1}
    response = post(client, "/api/v1/activate", body)
    assert response.status_code == 200
    assert "nonce" not in response.json()


@pytest.mark.django_db
@override_settings(API_RATE_LIMIT_PER_KEY=3)
def test_rate_limit_per_key_answers_429_with_retry_after(client, machine_key):
    from django.core.cache import cache

    cache.clear()
    body = {"license_key": machine_key["key"], "fingerprint": FINGERPRINT}
    for _ in range(3):
        assert post(client, "/api/v1/validate", body).status_code == 200
    response = post(client, "/api/v1/validate", body)
    assert_error(response, 429, "RATE_LIMITED")
    assert 1 <= int(response["Retry-After"]) <= 60
    # A malformed request is refused for what it is, before the rate check.
    assert_error(post(client, "/api/v1/validate", {"license_key": machine_key["key"]}), 400, "BAD_REQUEST")


@pytest.mark.django_db
def test_no_cookies_or_csrf_on_the_api(machine_key):
    client = Client(enforce_csrf_checks=True)
    response = post(client, "/api/v1/activate", {"license_key": machine_key["key"], "fingerprint": FINGERPRINT})
    assert response.status_code == 200
    assert not response.cookies


@pytest.mark.django_db
def test_healthz_runs_a_query_and_reveals_nothing(client, django_assert_num_queries):
    with django_assert_num_queries(1):
        response = client.get("/healthz")
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_internal_error_is_json_without_a_stack_trace(machine_key):
    from django.test import RequestFactory

    from licenses.agent_api import views as api

    def broken(**kwargs):
        raise RuntimeError("secret internals")

    request = RequestFactory().post(
        "/api/v1/validate",
        json.dumps({"license_key": machine_key["key"], "fingerprint": FINGERPRINT}),
        content_type="application/json",
    )
    request.client_ip = "127.0.0.1"
    response = api.agent_endpoint(broken)(request)
    assert response.status_code == 500
    assert json.loads(response.content) == {
        "error": {"code": "INTERNAL_ERROR", "detail": "An internal error occurred."}
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"license_key": "\\ud800", "fingerprint": {}}', "license_key"),
        (
            '{"license_key": "k", "fingerprint": '
            '{"mac": "\\udc00", "cpu_id": "a", "hostname": "b", "product_version": "1"}}',
            "fingerprint.mac",
        ),
        (
            '{"license_key": "k", "fingerprint": '
            '{"mac": "a", "cpu_id": "a", "hostname": "\\u001c", "product_version": "1"}}',
            "fingerprint.hostname",
        ),
    ],
)
def test_lone_surrogates_and_control_blanks_are_refused_as_bad_requests(client, body, field):
    assert field in assert_error(post(client, "/api/v1/validate", body), 400, "BAD_REQUEST")

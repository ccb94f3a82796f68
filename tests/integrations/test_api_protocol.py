"""The conventions every resource shares: cursor pages, Idempotency-Key, the error shape (never
HTML), 413/415, and the per-token rate limit counted in Redis."""

from __future__ import annotations

import base64
import json
import os
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from licenses.models import LicenseKey
from organizations.models import Organization
from organizations.services import organization_create
from tests.integrations.conftest import API, error_of
from tests.support.servers import redis_available

pytestmark = [pytest.mark.django_db]

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


# Pages --------------------------------------------------------------------------------------------


def test_pages_walk_every_row_once_newest_first(world, vendor):
    for number in range(7):
        organization_create(actor=None, name=f"Customer {number}")
    seen, cursor = [], None
    while True:
        query = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = vendor.get("/organizations", **query).json()
        assert len(page["data"]) <= 3
        seen += [row["slug"] for row in page["data"]]
        cursor = page["next"]
        if cursor is None:
            break
    expected = list(Organization.objects.order_by("-created_at", "-id").values_list("slug", flat=True))
    assert seen == expected and len(seen) == 9


def test_a_page_is_not_shifted_by_rows_added_meanwhile(world, vendor):
    first = vendor.get("/organizations/acme/keys", limit=2).json()
    vendor.post("/organizations/acme/keys", {"kind": "free"})  # newer than every row: not on later pages
    second = vendor.get("/organizations/acme/keys", limit=2, cursor=first["next"]).json()
    ids = [row["id"] for row in first["data"] + second["data"]]
    assert len(ids) == len(set(ids)) == 4


@pytest.mark.parametrize("limit", ["0", "201", "many", "-1"])
def test_the_limit_is_1_to_200(world, vendor, limit):
    response = vendor.get("/organizations", limit=limit)
    assert response.status_code == 400 and list(error_of(response)["fields"]) == ["limit"]


def test_a_cursor_the_api_did_not_give_is_refused(world, vendor):
    for cursor in ("nonsense", "W10", "eyJ4IjogMX0"):
        response = vendor.get("/organizations", cursor=cursor)
        assert response.status_code == 400 and list(error_of(response)["fields"]) == ["cursor"]


def _cursor(value, pk) -> str:
    return base64.urlsafe_b64encode(json.dumps([value, pk]).encode()).decode().rstrip("=")


@pytest.mark.parametrize("path", ["/organizations", "/audit-events", "/organizations/acme/keys", "/webhook-endpoints"])
@pytest.mark.parametrize("value", ["9999-12-31T23:59:59.999999-23:59", "2026-12-01T00:00:00", None, 7])
def test_a_forged_cursors_time_is_refused_not_sent_to_the_database(world, vendor, path, value):
    # A time past 9999 in UTC was a 500 (PostgreSQL cannot store it); one without a zone is ambiguous.
    response = vendor.get(path, cursor=_cursor(value, 1))
    assert response.status_code == 400 and list(error_of(response)["fields"]) == ["cursor"]


def test_default_limit_is_50(world, vendor):
    for number in range(55):
        organization_create(actor=None, name=f"Bulk {number}")
    page = vendor.get("/organizations").json()
    assert len(page["data"]) == 50 and page["next"]
    assert len(vendor.get("/organizations", limit=200).json()["data"]) == 57


# Idempotency-Key ----------------------------------------------------------------------------------


def test_the_same_key_and_body_answer_the_first_response_without_acting_twice(world, vendor):
    headers = {"Idempotency-Key": "order-1001"}
    first = vendor.post("/organizations", {"name": "Initech"}, headers=headers)
    again = vendor.post("/organizations", {"name": "Initech"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert Organization.objects.filter(name="Initech").count() == 1
    other = vendor.post("/organizations", {"name": "Initech 2"}, headers=headers)
    assert other.status_code == 422 and error_of(other)["code"] == "IDEMPOTENCY_MISMATCH"
    assert vendor.post("/organizations", {"name": "Initech"}).status_code == 201  # no key: acts again


def test_a_replayed_issue_carries_the_same_key_text_which_is_not_kept_with_the_answer(world, vendor):
    from integrations.models import IdempotentAnswer

    headers = {"Idempotency-Key": "issue-7"}
    first = vendor.post("/organizations/acme/keys", {"kind": "free"}, headers=headers).json()
    again = vendor.post("/organizations/acme/keys", {"kind": "free"}, headers=headers).json()
    assert first == again and first["key"].startswith(first["key"][:4])
    assert LicenseKey.objects.filter(kind="free").count() == 1
    assert first["key"] not in bytes(IdempotentAnswer.objects.get(key="issue-7").body).decode()


def test_keys_are_per_token_and_expire_after_24_hours(world, vendor, acme):
    from datetime import timedelta

    from django.utils import timezone

    from integrations.models import IdempotentAnswer

    headers = {"Idempotency-Key": "same"}
    vendor.post("/organizations/acme/environments", {"name": "A"}, headers=headers)
    # another token's same key is its own
    assert acme.post("/organizations/acme/environments", {"name": "B"}, headers=headers).status_code == 201
    IdempotentAnswer.objects.update(created_at=timezone.now() - timedelta(hours=25))
    response = vendor.post("/organizations/acme/environments", {"name": "C"}, headers=headers)
    assert response.status_code == 201 and response.json()["name"] == "C"


def test_an_error_is_not_kept(world, vendor):
    headers = {"Idempotency-Key": "retry-me"}
    assert vendor.post("/organizations/acme/renew", {}, headers=headers).status_code == 400
    assert vendor.post("/organizations/acme/renew", {"days": 3}, headers=headers).status_code == 200


def test_an_idempotency_key_of_more_than_255_characters_is_refused(world, vendor):
    response = vendor.post("/organizations", {"name": "X"}, headers={"Idempotency-Key": "k" * 256})
    assert response.status_code == 400 and "Idempotency-Key" in error_of(response)["fields"]
    assert not Organization.objects.filter(name="X").exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_requests_racing_with_one_key_act_once(transactional_world):
    vendor = transactional_world

    def call(_):
        try:
            return vendor.post("/organizations", {"name": "Racer"}, headers={"Idempotency-Key": "race"})
        finally:
            connection.close()

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(call, range(4)))
    assert {answer.status_code for answer in answers} == {201}
    assert len({answer.json()["uuid"] for answer in answers}) == 1
    assert Organization.objects.filter(name="Racer").count() == 1


@pytest.fixture
def transactional_world(transactional_db, fast_passwords):
    from integrations.tokens import api_token_create
    from organizations.models import User
    from organizations.services import user_create

    root = user_create(actor=None, username="root", role=User.Role.SUPER_ADMIN)
    _token, text = api_token_create(actor=root, name="billing", scopes=["organizations:write"])
    return API(text)


# Errors -------------------------------------------------------------------------------------------


def test_bad_json_and_wrong_types_name_the_fields(world, vendor):
    response = vendor.client.post(
        "/api/manage/v1/organizations",
        "{not json",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {vendor.token}",
    )
    assert response.status_code == 400 and error_of(response)["code"] == "BAD_REQUEST"
    response = vendor.post("/organizations", {"name": "X", "transfer_limit": "many"})
    assert list(error_of(response)["fields"]) == ["transfer_limit"]
    response = vendor.post("/organizations", ["a", "list"])
    assert response.status_code == 400


# PostgreSQL refuses NUL in text, and a lone surrogate cannot be encoded: each was a 500 (schemathesis).
UNSTORABLE = ["Q\x00", "half \udaf1 a pair"]


@pytest.mark.parametrize("text", UNSTORABLE)
@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("post", "/organizations", {"name": "{}"}, "name"),
        ("patch", "/organizations/acme", {"name": "{}"}, "name"),
        ("post", "/organizations/acme/environments", {"name": "{}"}, "name"),
        ("post", "/organizations/acme/keys", {"kind": "server", "machine_name": "{}"}, "machine_name"),
        ("post", "/organizations/acme/keys", {"kind": "free", "description": "{}"}, "description"),
        ("post", "/webhook-endpoints", {"url": "https://a.example/", "events": [], "description": "{}"}, "description"),
    ],
)
def test_text_that_cannot_be_stored_is_refused_naming_the_field(world, vendor, method, path, body, field, text):
    body = {name: text if value == "{}" else value for name, value in body.items()}
    before = Organization.objects.count(), LicenseKey.objects.count()
    # json.dumps writes the lone surrogate as the \\udaf1 escape that JSON allows and Python reads back.
    response = vendor.call(method, path, body)
    assert response.status_code == 400, response.content[:300]
    assert list(error_of(response)["fields"]) == [field]
    assert (Organization.objects.count(), LicenseKey.objects.count()) == before


def test_an_end_beyond_the_longest_subscription_is_refused_and_any_offset_is_kept_as_utc(world, vendor):
    # PostgreSQL refuses an offset beyond 15:59 (a 500 found by schemathesis) and a year past 9999.
    for ends in ("3812-11-22T04:38:06+21:46", "2300-01-01T00:00:00Z"):
        response = vendor.post("/organizations", {"name": "Far", "subscription_ends_at": ends})
        assert response.status_code == 400, response.content[:300]
        assert list(error_of(response)["fields"]) == ["subscription_ends_at"]
    assert not Organization.objects.filter(name="Far").exists()
    response = vendor.post("/organizations", {"name": "Near", "subscription_ends_at": "2030-01-01T04:38:06+21:46"})
    assert response.status_code == 201 and response.json()["subscription_ends_at"] == "2029-12-31T06:52:06Z"


@pytest.mark.parametrize("text", UNSTORABLE)
def test_a_path_parameter_that_cannot_be_stored_is_not_found(world, vendor, text):
    from urllib.parse import quote

    response = vendor.get(f"/organizations/{quote(text, errors='surrogatepass')}")
    assert response.status_code in (400, 404) and error_of(response)["code"] in ("BAD_REQUEST", "NOT_FOUND")


# (A lone surrogate cannot reach a query: its bytes are not UTF-8, and Django reads them as U+FFFD.)
@pytest.mark.parametrize("text", ["Q\x00"])
@pytest.mark.parametrize(
    ("path", "field"),
    [("/audit-events", "organization"), ("/audit-events", "action"), ("/organizations", "q")],
)
def test_a_query_parameter_that_cannot_be_stored_is_refused_naming_it(world, vendor, path, field, text):
    from urllib.parse import quote

    response = vendor.get(f"{path}?{field}={quote(text)}")
    assert response.status_code == 400, response.content[:300]
    assert list(error_of(response)["fields"]) == [field]


def test_an_unknown_route_and_a_wrong_method_answer_json(world, vendor):
    response = vendor.get("/nowhere")
    assert response.status_code == 404 and error_of(response)["code"] == "NOT_FOUND"
    response = vendor.call("delete", "/organizations")
    assert response.status_code == 405 and error_of(response)["code"] == "METHOD_NOT_ALLOWED"
    assert "POST" in response["Allow"]


def test_a_body_too_large_gets_413_and_not_json_415(world, vendor, settings):
    settings.MANAGEMENT_API_MAX_BODY = 100
    response = vendor.post("/organizations", {"name": "x" * 200})
    assert response.status_code == 413 and error_of(response)["code"] == "PAYLOAD_TOO_LARGE"
    response = vendor.client.post(
        "/api/manage/v1/organizations", "name=x", content_type="text/plain", HTTP_AUTHORIZATION=f"Bearer {vendor.token}"
    )
    assert response.status_code == 415 and error_of(response)["code"] == "UNSUPPORTED_MEDIA_TYPE"
    response = vendor.client.post(
        "/api/manage/v1/organizations",
        {"name": "x"},  # a form post
        HTTP_AUTHORIZATION=f"Bearer {vendor.token}",
    )
    assert response.status_code == 415
    assert not Organization.objects.filter(name="x").exists()
    response = API(None).client.post("/api/manage/v1/organizations", "x" * 200, content_type="text/plain")
    assert response.status_code == 401  # who asks comes first


def test_no_csrf_token_is_needed(world, vendor):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    response = client.post(
        "/api/manage/v1/organizations",
        json.dumps({"name": "Initech"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {vendor.token}",
    )
    assert response.status_code == 201


def test_an_unexpected_failure_is_a_json_500_without_a_trace(world, vendor, monkeypatch):
    from integrations import representations

    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(representations, "organization", broken)
    response = vendor.get("/organizations/acme")
    assert response.status_code == 500
    assert error_of(response) == {"code": "INTERNAL_ERROR", "detail": "An internal error occurred."}
    assert b"secret internals" not in response.content and b"Traceback" not in response.content


def test_no_answer_is_html(world, vendor):
    for response in (
        vendor.get("/organizations/acme/keys", kind=json.dumps({"x": 1})),
        vendor.get(f"/keys/{uuid.uuid4()}"),
        API("lpat_x").get("/keys/x"),
    ):
        assert response["Content-Type"] == "application/json"
        assert set(response.json()) == {"error"}


# Rate limit ---------------------------------------------------------------------------------------


@pytest.fixture
def redis_cache(settings):
    if not redis_available(REDIS_URL):
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"manage-api-test-{uuid.uuid4().hex[:10]}",
        }
    }
    return settings


def test_each_token_has_its_own_rate_limit_in_redis(world, vendor, acme, redis_cache):
    redis_cache.MANAGEMENT_API_RATE_LIMIT = 3
    for _ in range(3):
        assert vendor.get("/organizations/acme").status_code == 200
    refused = vendor.get("/organizations/acme")
    assert refused.status_code == 429 and error_of(refused)["code"] == "RATE_LIMITED"
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert acme.get("/organizations/acme").status_code == 200  # another token's count is its own

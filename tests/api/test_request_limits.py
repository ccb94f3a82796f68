"""Bodies the parser must refuse clearly (never a 500): deep nesting, control characters,
chunked bodies; and methods no endpoint declares."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import pytest
from django.test import Client

from tests.api.test_transport import assert_error
from tests.conftest import FINGERPRINT, Agent


def nested(levels: int):
    """``levels`` arrays and objects inside each other."""
    value: object = "x"
    for level in range(levels):
        value = [value] if level % 2 else {"a": value}
    return value


@pytest.mark.django_db
@pytest.mark.parametrize("depth", [33, 5000])
def test_a_body_nested_deeper_than_32_levels_is_a_bad_request(machine_key, depth):
    body = {"license_key": machine_key["key"], "fingerprint": FINGERPRINT, "extra": nested(depth - 1)}
    text = json.dumps(body) if depth < 900 else _deep_text(depth)
    response = Client().post("/api/v1/validate", text, content_type="application/json")
    detail = assert_error(response, 400, "BAD_REQUEST")
    assert "32" in detail


def _deep_text(depth: int) -> str:
    return '{"license_key": "x", "extra": ' + "[" * depth + "]" * depth + "}"


@pytest.mark.django_db
def test_a_body_nested_32_levels_is_accepted(machine_key):
    body = {"license_key": machine_key["key"], "fingerprint": FINGERPRINT, "extra": nested(31)}
    response = Client().post("/api/v1/validate", json.dumps(body), content_type="application/json")
    assert response.status_code == 200, response.content


@pytest.mark.django_db
@pytest.mark.parametrize("character", ["\x00", "\x1b", "\x7f", "\x85", "\n"])
@pytest.mark.parametrize("field", ["mac", "cpu_id", "hostname", "product_version"])
def test_a_control_character_in_a_fingerprint_field_is_a_bad_request(machine_key, field, character):
    fingerprint = dict(FINGERPRINT)
    fingerprint[field] = fingerprint[field][:3] + character + fingerprint[field][3:]
    response = Agent(fingerprint=fingerprint).call("activate", machine_key["key"])
    detail = assert_error(response, 400, "BAD_REQUEST")
    assert f"fingerprint.{field}" in detail


@pytest.mark.django_db
def test_a_nul_in_the_machine_name_is_a_bad_request_and_saves_nothing(machine_key):
    from environments.models import Machine

    response = Agent().call("activate", machine_key["key"], machine_name="box\x00one")
    assert "machine_name" in assert_error(response, 400, "BAD_REQUEST")
    assert not Machine.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/healthz", "/api/v1/jwks", "/api/v1/openapi.json", "/api/v1/validate"])
@pytest.mark.parametrize("method", ["TRACE", "OPTIONS", "PATCH", "DELETE", "CONNECT"])
def test_an_undeclared_method_is_405(path, method):
    response = Client().generic(method, path)
    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert response["Allow"]


def _raw_request(url: str, request: bytes) -> bytes:
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def _chunked(path: str, body: bytes, host: str) -> bytes:
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:40], body[40:]))
    return (
        (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        ).encode()
        + chunks
        + b"0\r\n\r\n"
    )


@pytest.mark.django_db(transaction=True)
def test_a_chunked_body_that_the_server_does_not_decode_is_refused_with_411(live_server, machine_key):
    """Django's development server passes a chunked body on undecoded: the API says so (411), it
    never reads it as an empty body."""
    body = json.dumps({"license_key": machine_key["key"], "fingerprint": FINGERPRINT}).encode()
    answer = _raw_request(live_server.url, _chunked("/api/v1/validate", body, "localhost"))
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 411"), head
    assert json.loads(payload)["error"]["code"] == "LENGTH_REQUIRED"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_chunked_body_is_read_where_the_server_decodes_it(machine_key):
    from tests.support.servers import gunicorn

    body = json.dumps({"license_key": machine_key["key"], "fingerprint": FINGERPRINT}).encode()
    with gunicorn(workers=1) as (_process, url):
        answer = _raw_request(url, _chunked("/api/v1/validate", body, "localhost"))
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    assert b'"code":"NOT_ACTIVATED"' in payload

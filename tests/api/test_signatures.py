"""Signed verdicts and activation tokens, checked the way an agent in another language would."""

from __future__ import annotations

import base64
import json
import re
import time

import jwt
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.test import Client

from licenses import keyformat
from tests.conftest import FINGERPRINT


def b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwks(client) -> dict:
    return client.get("/api/v1/jwks").json()


def verify_signature(response, key_set: dict) -> bool:
    match = re.fullmatch(r'kid="([^"]+)", sig="([A-Za-z0-9_-]+)"', response["License-Signature"])
    assert match, response["License-Signature"]
    kid, signature = match.groups()
    jwk = next(key for key in key_set["keys"] if key["kid"] == kid)
    public_key = Ed25519PublicKey.from_public_bytes(b64decode(jwk["x"]))
    try:
        public_key.verify(b64decode(signature), response.content)
    except Exception:
        return False
    return True


@pytest.fixture
def client():
    return Client()


@pytest.mark.django_db
def test_jwks_is_an_rfc_8037_key_set_at_both_addresses(client):
    key_set = jwks(client)
    assert key_set == client.get("/.well-known/jwks.json").json()
    (key,) = key_set["keys"]
    assert {key["kty"], key["crv"], key["alg"], key["use"]} == {"OKP", "Ed25519", "EdDSA", "sig"}
    assert len(b64decode(key["x"])) == 32 and "d" not in key


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", ["activate", "validate", "deactivate"])
def test_every_verdict_is_signed_over_its_exact_bytes(client, machine_key, endpoint):
    key_set = jwks(client)
    for key in (machine_key["key"], "not-a-key"):
        body = {"license_key": key, "fingerprint": FINGERPRINT, "nonce": "n-1_A"}
        response = client.post(f"/api/v1/{endpoint}", json.dumps(body), content_type="application/json")
        assert response.status_code == 200
        assert verify_signature(response, key_set)
        assert response.json()["nonce"] == "n-1_A"
        assert response.json()["time"].endswith("Z")


@pytest.mark.django_db
def test_an_altered_verdict_fails_its_signature(client, machine_key):
    body = {"license_key": "LP1M-nothing", "fingerprint": FINGERPRINT, "nonce": "abc"}
    response = client.post("/api/v1/validate", json.dumps(body), content_type="application/json")
    response.content = response.content.replace(b'"valid":false', b'"valid":true')
    assert not verify_signature(response, jwks(client))


@pytest.mark.django_db
def test_activation_token_verifies_with_a_stock_jose_library(client, machine_key, org):
    body = {"license_key": machine_key["key"], "fingerprint": FINGERPRINT}
    verdict = client.post("/api/v1/activate", json.dumps(body), content_type="application/json").json()
    token = verdict["activation"]
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "EdDSA"
    signing_key = jwt.PyJWKSet.from_dict(jwks(client))[header["kid"]]
    claims = jwt.decode(token, signing_key.key, algorithms=["EdDSA"], issuer="licensing-portal")
    assert claims["sub"] == machine_key["id"]
    assert claims["machine_uid"] == verdict["machine"]["uid"]
    assert claims["org"] == org["id"]
    assert claims["kind"] == "machine" and claims["edition"] == "paid"
    assert claims["environment"] == "Production"
    assert claims["capabilities"] == {"save_data_configuration": True, "paid_features": True}
    assert claims["nbf"] <= time.time() + 1
    # exp: the earlier of the subscription's end and the 30-day lease.
    assert abs(claims["exp"] - (claims["iat"] + 30 * 86400)) <= 1


@pytest.mark.django_db
def test_token_of_a_short_key_ends_with_the_key(client, temporary_key, machine_key):
    activate = {"license_key": machine_key["key"], "fingerprint": FINGERPRINT}
    client.post("/api/v1/activate", json.dumps(activate), content_type="application/json")
    body = {"license_key": temporary_key["key"], "fingerprint": FINGERPRINT}
    verdict = client.post("/api/v1/activate", json.dumps(body), content_type="application/json").json()
    claims = jwt.decode(verdict["activation"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] <= 2 * 3600 + 1
    assert claims["capabilities"] == {"save_data_configuration": False, "paid_features": True}


@pytest.mark.django_db
def test_keys_are_self_describing_and_signed_by_the_portal(client, machine_key, org):
    parsed = keyformat.key_parse(machine_key["key"])
    assert parsed.kind == "machine" and str(parsed.organization_id) == org["id"]
    public_keys = [Ed25519PublicKey.from_public_bytes(b64decode(key["x"])) for key in jwks(client)["keys"]]
    assert parsed.verify(public_keys)
    assert len(machine_key["key"]) == keyformat.KEY_LENGTH


@pytest.mark.django_db
def test_the_plain_key_is_never_stored(machine_key):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM licenses_licensekey")
        rows = cursor.fetchall()
    assert rows and all(machine_key["key"] not in str(row) for row in rows)


def test_libsodium_signs_byte_for_byte_as_openssl_would():
    """Verdicts and tokens are signed by libsodium (faster); Ed25519 is deterministic, so each signature
    is exactly the one the keyring's OpenSSL key makes, and verifies against the published key."""
    from licenses import signing

    key = signing.signing_key_new()
    for message in (b"", b"{}", "é — verdict".encode() * 50):
        signature = key.sign(message)
        assert signature == key.private_key.sign(message)
        key.public_key.verify(signature, message)
    with pytest.raises(InvalidSignature):
        key.public_key.verify(key.sign(b"one"), b"another")

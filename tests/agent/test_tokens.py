"""Activation tokens: compact JWS (EdDSA) verified offline against pinned keys."""

import json
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from licensing_agent.tokens import TokenError, verify_token
from licensing_agent.trust import KeySet, b64url_decode

from tests.agent.support import MACHINE_UID_442, Signer, b64url, token_claims

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
ORG = uuid.uuid4()


@pytest.fixture
def signer():
    return Signer()


@pytest.fixture
def keys(signer):
    return KeySet.from_jwks({"keys": [signer.jwk()]})


def test_a_good_token_gives_its_claims(signer, keys):
    text = signer.token(token_claims(MACHINE_UID_442, organization=ORG, now=NOW))
    token = verify_token(text, keys, machine_uid=MACHINE_UID_442, now=NOW + timedelta(days=1))
    assert token.organization_id == str(ORG)
    assert token.kind == "machine"
    assert token.capabilities == {"save_data_configuration": True}
    assert token.expires_at == NOW + timedelta(days=30)
    assert token.kid == signer.kid


def test_a_token_made_by_another_jose_library_verifies(signer, keys):
    claims = token_claims(MACHINE_UID_442, organization=ORG, now=NOW)
    text = jwt.encode(claims, signer.private_key, algorithm="EdDSA", headers={"kid": signer.kid})
    assert verify_token(text, keys, machine_uid=MACHINE_UID_442, now=NOW).license_id == claims["sub"]


def test_an_altered_token_is_refused(signer, keys):
    text = signer.token(token_claims(MACHINE_UID_442, organization=ORG, now=NOW))
    header, payload, signature = text.split(".")
    claims = json.loads(b64url_decode(payload))
    claims["exp"] += 365 * 86400  # a year more
    altered = ".".join([header, b64url(json.dumps(claims).encode()), signature])
    with pytest.raises(TokenError, match="signature"):
        verify_token(altered, keys, machine_uid=MACHINE_UID_442, now=NOW)


def test_a_token_signed_by_another_key_with_the_pinned_kid_is_refused(signer, keys):
    impostor = Signer(kid=signer.kid)
    text = impostor.token(token_claims(MACHINE_UID_442, organization=ORG, now=NOW))
    with pytest.raises(TokenError, match="signature"):
        verify_token(text, keys, machine_uid=MACHINE_UID_442, now=NOW)


def test_a_token_of_an_unknown_key_is_refused(keys):
    text = Signer().token(token_claims(MACHINE_UID_442, organization=ORG, now=NOW))
    with pytest.raises(TokenError) as raised:
        verify_token(text, keys, machine_uid=MACHINE_UID_442, now=NOW)
    assert raised.value.code == "TOKEN_UNKNOWN_KEY"


def test_a_token_for_another_machine_is_refused(signer, keys):
    text = signer.token(token_claims("f" * 64, organization=ORG, now=NOW))
    with pytest.raises(TokenError) as raised:
        verify_token(text, keys, machine_uid=MACHINE_UID_442, now=NOW)
    assert raised.value.code == "TOKEN_OTHER_MACHINE"


def test_an_expired_token_is_refused(signer, keys):
    text = signer.token(token_claims(MACHINE_UID_442, organization=ORG, now=NOW))
    verify_token(text, keys, machine_uid=MACHINE_UID_442, now=NOW + timedelta(days=30, seconds=-1))
    with pytest.raises(TokenError) as raised:
        verify_token(text, keys, machine_uid=MACHINE_UID_442, now=NOW + timedelta(days=30))
    assert raised.value.code == "TOKEN_EXPIRED"


def test_a_token_from_the_future_is_refused_beyond_the_leeway(signer, keys):
    text = signer.token(token_claims(MACHINE_UID_442, organization=ORG, now=NOW))
    verify_token(text, keys, machine_uid=MACHINE_UID_442, now=NOW - timedelta(minutes=4))
    with pytest.raises(TokenError) as raised:
        verify_token(text, keys, machine_uid=MACHINE_UID_442, now=NOW - timedelta(minutes=6))
    assert raised.value.code == "TOKEN_NOT_YET_VALID"


@pytest.mark.parametrize("alg", ["none", "HS256", "ES256"])
def test_only_eddsa_is_accepted(signer, keys, alg):
    text = signer.token(token_claims(MACHINE_UID_442, organization=ORG, now=NOW), alg=alg)
    with pytest.raises(TokenError, match="EdDSA"):
        verify_token(text, keys, machine_uid=MACHINE_UID_442, now=NOW)


@pytest.mark.parametrize("text", ["", "abc", "a.b", "a.b.c", "!!.??.##", 42])
def test_garbage_is_refused(keys, text):
    with pytest.raises(TokenError):
        verify_token(text, keys, machine_uid=MACHINE_UID_442, now=NOW)


def test_a_token_without_required_claims_is_refused(signer, keys):
    claims = token_claims(MACHINE_UID_442, organization=ORG, now=NOW)
    del claims["org"]
    with pytest.raises(TokenError, match="org"):
        verify_token(signer.token(claims), keys, machine_uid=MACHINE_UID_442, now=NOW)

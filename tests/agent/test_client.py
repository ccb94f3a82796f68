"""The HTTP client against a fake portal: signed verdicts, forged/altered/replayed answers, retries."""

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from licensing_agent.client import (
    PortalClient,
    PortalError,
    PortalUnreachable,
    UnknownSigningKey,
    UntrustedAnswer,
    parse_retry_after,
)
from licensing_agent.fingerprint import collect
from licensing_agent.trust import KeySet

from tests.agent.support import MACHINE, FakePortal, Signer, unused_port_url, verdict_body

FINGERPRINT = collect("4.4.2", **MACHINE)


@pytest.fixture
def portal():
    with FakePortal() as fake:
        yield fake


def client_for(portal, *, sleeps=None, keys=None, **options):
    trusted = keys or KeySet.from_jwks({"keys": [portal.signer.jwk()]})
    return PortalClient(
        portal.url, keys=lambda: trusted, sleep=(sleeps.append if sleeps is not None else lambda s: None), **options
    )


def test_a_signed_verdict_is_trusted_and_typed(portal):
    verdict = client_for(portal).validate("LP1M-key", FINGERPRINT)
    assert (verdict.code, verdict.valid, verdict.kind, verdict.edition) == ("VALID", True, "machine", "paid")
    assert verdict.capabilities == {"save_data_configuration": True}
    assert verdict.organization["name"] == "Acme"
    endpoint, request = portal.agent_calls()[0]
    assert endpoint == "validate"
    assert request["fingerprint"] == FINGERPRINT.as_request()
    assert verdict.nonce == request["nonce"]


def test_every_call_sends_a_fresh_nonce(portal):
    client = client_for(portal)
    for _ in range(3):
        client.validate("LP1M-key", FINGERPRINT)
    nonces = [request["nonce"] for _, request in portal.agent_calls()]
    assert len(set(nonces)) == 3
    assert all(1 <= len(nonce) <= 64 and nonce.replace("-", "").replace("_", "").isalnum() for nonce in nonces)


def test_activate_sends_the_machine_name_and_returns_the_token(portal):
    portal.respond = lambda endpoint, request: portal.signed(verdict_body(request, activation="tok.en.x"))
    verdict = client_for(portal).activate("LP1M-key", FINGERPRINT, machine_name="build box")
    assert verdict.activation == "tok.en.x"
    assert portal.agent_calls()[0][1]["machine_name"] == "build box"


def test_an_invalid_verdict_is_typed_with_what_changed(portal):
    portal.respond = lambda endpoint, request: portal.signed(
        verdict_body(request, code="FINGERPRINT_MISMATCH", changed=["hostname"])
    )
    verdict = client_for(portal).validate("LP1M-key", FINGERPRINT)
    assert (verdict.valid, verdict.code, verdict.changed) == (False, "FINGERPRINT_MISMATCH", ("hostname",))


def test_a_forged_verdict_is_untrusted(portal):
    """A fake server signs VALID with its own key under the portal's kid."""
    impostor = Signer(kid=portal.signer.kid)
    portal.respond = lambda endpoint, request: portal.signed(verdict_body(request), signer=impostor)
    with pytest.raises(UntrustedAnswer, match="forged or altered"):
        client_for(portal).validate("LP1M-key", FINGERPRINT)


def test_an_altered_verdict_is_untrusted(portal):
    def altered(endpoint, request):
        status, headers, body = portal.signed(verdict_body(request, code="REVOKED"))
        return status, headers, body.replace(b'"valid":false,"code":"REVOKED"', b'"valid":true,"code":"VALID"')

    portal.respond = altered
    with pytest.raises(UntrustedAnswer, match="forged or altered"):
        client_for(portal).validate("LP1M-key", FINGERPRINT)


def test_a_replayed_verdict_is_untrusted(portal):
    """A genuine, correctly signed VALID answer recorded earlier, sent again for a new request."""
    recorded = portal.signed(verdict_body({"nonce": "an-old-nonce"}))
    portal.respond = lambda endpoint, request: recorded
    with pytest.raises(UntrustedAnswer, match="replay"):
        client_for(portal).validate("LP1M-key", FINGERPRINT)


def test_a_verdict_without_nonce_is_untrusted(portal):
    portal.respond = lambda endpoint, request: portal.signed(
        {k: v for k, v in verdict_body(request).items() if k != "nonce"}
    )
    with pytest.raises(UntrustedAnswer, match="nonce"):
        client_for(portal).validate("LP1M-key", FINGERPRINT)


@pytest.mark.parametrize(
    "header",
    [None, "", 'kid="x"', 'sig="AAAA"', "garbage", 'kid="k", sig="not base64!"', 'kid="k", sig="AAAA"'],
)
def test_a_missing_or_malformed_signature_is_untrusted(portal, header):
    def respond(endpoint, request):
        status, headers, body = portal.signed(verdict_body(request))
        return status, ({} if header is None else {"License-Signature": header}), body

    portal.respond = respond
    with pytest.raises(UntrustedAnswer):
        client_for(portal).validate("LP1M-key", FINGERPRINT)


def test_signature_parameters_in_any_order(portal):
    def respond(endpoint, request):
        body = json.dumps(verdict_body(request)).encode()
        kid, sig = portal.signer.signature_header(body).split(", ")
        return 200, {"License-Signature": f"{sig},{kid}"}, body

    portal.respond = respond
    assert client_for(portal).validate("LP1M-key", FINGERPRINT).valid


def test_a_verdict_signed_by_an_unknown_key_is_untrusted_unless_refreshed(portal):
    rotated = Signer()
    portal.respond = lambda endpoint, request: portal.signed(verdict_body(request), signer=rotated)
    with pytest.raises(UnknownSigningKey) as raised:
        client_for(portal).validate("LP1M-key", FINGERPRINT)
    assert raised.value.kid == rotated.kid
    keys = [KeySet.from_jwks({"keys": [portal.signer.jwk()]})]
    client = PortalClient(portal.url, keys=lambda: keys[0], sleep=lambda s: None)

    def refresh(kid):
        keys[0] = KeySet.from_jwks({"keys": [portal.signer.jwk(), rotated.jwk()]})
        return True

    client.refresh_keys = refresh
    assert client.validate("LP1M-key", FINGERPRINT).valid
    assert len(portal.agent_calls()) == 2  # the refresh re-checked the same answer, no second call


def test_429_is_retried_after_retry_after_seconds(portal):
    answers = iter([(429, {"Retry-After": "7"}, b'{"error": {"code": "RATE_LIMITED", "detail": "slow"}}')])
    portal.respond = lambda endpoint, request: next(answers, None) or portal.valid(endpoint, request)
    sleeps = []
    assert client_for(portal, sleeps=sleeps).validate("LP1M-key", FINGERPRINT).valid
    assert sleeps == [7.0]
    assert len(portal.agent_calls()) == 2


def test_503_is_retried_with_back_off_when_no_retry_after(portal):
    unavailable = (503, {}, b'{"error": {"code": "UNAVAILABLE", "detail": "db down"}}')
    answers = iter([unavailable, unavailable])
    portal.respond = lambda endpoint, request: next(answers, None) or portal.valid(endpoint, request)
    sleeps = []
    assert client_for(portal, sleeps=sleeps, backoff=0.5).validate("LP1M-key", FINGERPRINT).valid
    assert len(sleeps) == 2 and 0.5 <= sleeps[0] < 0.7 and 1.0 <= sleeps[1] < 1.2


def test_retry_after_is_capped(portal):
    answers = iter([(503, {"Retry-After": "86400"}, b"{}")])
    portal.respond = lambda endpoint, request: next(answers, None) or portal.valid(endpoint, request)
    sleeps = []
    client_for(portal, sleeps=sleeps, max_wait=30).validate("LP1M-key", FINGERPRINT)
    assert sleeps == [30]


def test_gives_up_after_the_last_attempt(portal):
    portal.respond = lambda endpoint, request: (429, {"Retry-After": "1"}, b"{}")
    sleeps = []
    with pytest.raises(PortalUnreachable, match="429"):
        client_for(portal, sleeps=sleeps, max_attempts=3).validate("LP1M-key", FINGERPRINT)
    assert sleeps == [1.0, 1.0]
    assert len(portal.agent_calls()) == 3


def test_other_errors_are_not_retried_and_carry_the_code(portal):
    portal.respond = lambda endpoint, request: (400, {}, b'{"error": {"code": "BAD_REQUEST", "detail": "nonce"}}')
    with pytest.raises(PortalError) as raised:
        client_for(portal).validate("LP1M-key", FINGERPRINT)
    assert (raised.value.status, raised.value.code) == (400, "BAD_REQUEST")
    assert not isinstance(raised.value, UntrustedAnswer)
    assert len(portal.agent_calls()) == 1


def test_nothing_listening_is_unreachable():
    client = PortalClient(unused_port_url(), keys=KeySet, sleep=lambda s: None, max_attempts=2)
    with pytest.raises(PortalUnreachable, match="cannot reach"):
        client.validate("LP1M-key", FINGERPRINT)


def test_a_timeout_is_unreachable(portal):
    import time

    portal.respond = lambda endpoint, request: (time.sleep(1), portal.valid(endpoint, request))[1]
    with pytest.raises(PortalUnreachable):
        client_for(portal, timeout=0.2, max_attempts=1).validate("LP1M-key", FINGERPRINT)


def test_fetch_jwks(portal):
    keys = client_for(portal).fetch_jwks()
    assert keys.kids == [portal.signer.kid]


def test_parse_retry_after():
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)
    assert 55 <= parse_retry_after(later) <= 60

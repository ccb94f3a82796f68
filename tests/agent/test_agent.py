"""``Agent`` against a fake portal: activation, the trust rule, untrusted answers, offline rules."""

import json
import stat
import uuid
from datetime import timedelta

import pytest
from licensing_agent import Agent, AgentError, TokenError
from licensing_agent.client import PortalUnreachable
from licensing_agent.keys import parse_key
from licensing_agent.state import format_time
from licensing_agent.trust import may_refresh_keys

from tests.agent.support import (
    MACHINE,
    Clock,
    FakePortal,
    IssuingPortal,
    Signer,
    token_claims,
    unused_port_url,
    verdict_body,
)

ORG = uuid.uuid4()


@pytest.fixture
def portal():
    with IssuingPortal(ORG) as fake:
        yield fake


@pytest.fixture
def clock(portal):
    return portal.clock


def make_agent(tmp_path, portal_url, clock, **overrides):
    options = dict(MACHINE) | overrides
    return Agent(
        product_version="4.4.2",
        portal_url=portal_url,
        state_path=tmp_path / "state.json",
        clock=clock,
        sleep=lambda seconds: None,
        max_attempts=2,
        **options,
    )


@pytest.fixture
def key(portal, clock):
    return portal.signer.license_key("machine", ORG, clock.now - timedelta(days=30))


@pytest.fixture
def activated(tmp_path, portal, clock, key):
    agent = make_agent(tmp_path, portal.url, clock)
    status = agent.activate(key)
    assert status.licensed and status.code == "VALID"
    return agent


def test_activate_pins_the_portal_keys_and_stores_key_and_token(activated, portal, key, tmp_path):
    state = activated.state_file.load()
    assert state.license_key == key
    assert state.portal_url == portal.url
    assert [jwk["kid"] for jwk in state.pinned_keys["keys"]] == [portal.signer.kid]
    assert state.token and state.product_version == "4.4.2"
    assert stat.S_IMODE((tmp_path / "state.json").stat().st_mode) == 0o600


def test_validate_valid(activated):
    status = activated.validate()
    assert (status.licensed, status.code, status.connection) == (True, "VALID", "portal")
    assert status.capabilities == {"save_data_configuration": True}
    assert status.token is not None


def test_a_forged_valid_without_a_token_is_never_valid(tmp_path, portal, clock, key):
    agent = make_agent(tmp_path, portal.url, clock)
    agent.pin()
    state = agent.state_file.load()
    state.license_key = key  # as after an activation that got no answer
    agent.state_file.save(state)
    impostor = Signer(kid=portal.signer.kid)
    portal.respond = lambda endpoint, request: portal.signed(verdict_body(request), signer=impostor)
    status = agent.validate()
    assert status.untrusted and status.connection == "untrusted"
    assert not status.licensed and status.code != "VALID"
    assert status.verdict is None
    assert any("untrusted answer" in warning for warning in status.warnings)


def test_a_forged_answer_counts_as_no_answer_the_token_decides(activated, portal):
    portal.respond = lambda endpoint, request: portal.signed(verdict_body(request, code="REVOKED"), signer=Signer())
    status = activated.validate()
    assert status.untrusted
    assert (status.licensed, status.code) == (True, "TOKEN_VALID")  # a forged REVOKED cannot log anyone out
    assert activated.state_file.load().token  # and leaves the token alone


def test_a_replayed_answer_is_untrusted(activated, portal):
    recorded = portal.signed(verdict_body({"nonce": "recorded-earlier"}))
    portal.respond = lambda endpoint, request: recorded
    status = activated.validate()
    assert status.untrusted and status.verdict is None


def test_unreachable_with_a_token_keeps_working_with_a_warning(activated, tmp_path, clock):
    offline = make_agent(tmp_path, unused_port_url(), clock)
    clock.advance(days=10)
    status = offline.validate()
    assert (status.licensed, status.code, status.connection) == (True, "TOKEN_VALID", "unreachable")
    assert any("working offline" in warning for warning in status.warnings)
    clock.advance(days=21)  # the token's 30 days are over
    status = offline.validate()
    assert (status.licensed, status.code) == (False, "TOKEN_EXPIRED")


def test_offline_first_install_gets_the_grace_period_with_pinned_keys(tmp_path, portal, clock):
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [portal.signer.jwk()]}))
    key = portal.signer.license_key("machine", ORG, clock.now - timedelta(days=2))
    agent = make_agent(tmp_path, unused_port_url(), clock)
    agent.pin(jwks_file=jwks)
    status = agent.activate(key)
    assert (status.licensed, status.code, status.connection) == (True, "GRACE_PERIOD", "unreachable")
    assert status.grace_ends_at == parse_key(key).issued_at + timedelta(days=7)
    clock.advance(days=5, seconds=1)
    assert agent.validate().code == "GRACE_EXPIRED"


def test_offline_first_install_without_pinned_keys_has_no_grace(tmp_path, portal, clock):
    agent = make_agent(tmp_path, unused_port_url(), clock)
    status = agent.activate(portal.signer.license_key("machine", ORG, clock.now))
    assert (status.licensed, status.code) == (False, "KEY_UNVERIFIED")


def test_clock_set_back_is_detected_offline(activated, tmp_path, clock):
    clock.advance(days=3)
    activated.validate()  # the agent saw this time
    offline = make_agent(tmp_path, unused_port_url(), clock)
    clock.advance(days=-2)
    status = offline.validate()
    assert (status.licensed, status.code) == (False, "CLOCK_SET_BACK")
    assert offline.status().code == "CLOCK_SET_BACK"


def test_a_verdict_time_ahead_of_the_local_clock_counts_as_seen(activated, portal, tmp_path, clock):
    portal.clock = Clock(clock.now + timedelta(days=1))  # the portal's clock is a day ahead
    activated.validate()
    assert activated.state_file.load().last_seen_time == format_time(portal.clock.now)
    assert make_agent(tmp_path, unused_port_url(), clock).validate().code == "CLOCK_SET_BACK"


def test_a_trusted_invalid_verdict_drops_the_token(activated, portal, tmp_path, clock):
    portal.code = "REVOKED"
    status = activated.validate()
    assert (status.licensed, status.code, status.connection) == (False, "REVOKED", "portal")
    assert activated.state_file.load().token is None
    offline = make_agent(tmp_path, unused_port_url(), clock).validate()
    assert (offline.licensed, offline.code) == (False, "REVOKED")


def test_deactivate(activated):
    status = activated.deactivate()
    assert (status.licensed, status.code) == (False, "DEACTIVATED")
    assert activated.state_file.load().token is None
    assert activated.status().code == "DEACTIVATED"


def test_deactivate_needs_an_answer(activated, tmp_path, clock):
    with pytest.raises(PortalUnreachable):
        make_agent(tmp_path, unused_port_url(), clock).deactivate()


def test_a_rotated_key_is_fetched_from_the_same_loopback_portal(activated, portal):
    old, new = portal.signer, Signer()
    portal.jwks_signers = [old, new]
    portal.signer = new
    status = activated.validate()
    assert status.code == "VALID" and status.verdict.kid == new.kid
    kids = [jwk["kid"] for jwk in activated.state_file.load().pinned_keys["keys"]]
    assert kids == [old.kid, new.kid]
    assert status.token is not None  # the token signed by the old key still holds


def test_a_new_key_is_not_taken_from_another_portal_url(activated, portal, tmp_path, clock):
    rotated = Signer()
    with FakePortal(signer=rotated, jwks_signers=[rotated]) as elsewhere:
        status = make_agent(tmp_path, elsewhere.url, clock).validate()
    assert status.untrusted and status.licensed and status.code == "TOKEN_VALID"
    assert rotated.kid not in str(activated.state_file.load().pinned_keys)


def test_the_trust_rule():
    assert may_refresh_keys("https://portal.example.com", "https://PORTAL.example.com/")
    assert may_refresh_keys("http://127.0.0.1:8000", "http://127.0.0.1:8000")
    assert may_refresh_keys("http://localhost:8000", "http://localhost:8000")
    assert not may_refresh_keys("http://portal.example.com", "http://portal.example.com")
    assert not may_refresh_keys("https://portal.example.com", "https://evil.example.com")
    assert not may_refresh_keys(None, "https://portal.example.com")


def test_the_token_is_renewed_when_half_its_lease_is_gone(activated, portal, clock):
    first = activated.state_file.load().token
    clock.advance(days=10)
    portal.clock = clock
    activated.validate()
    assert activated.state_file.load().token == first
    clock.advance(days=6)
    status = activated.validate()
    assert activated.state_file.load().token != first
    assert status.token.expires_at > clock.now + timedelta(days=29)
    assert [endpoint for endpoint, _ in portal.agent_calls()] == ["activate", "validate", "validate", "activate"]


def test_a_hostname_change_is_a_new_machine(activated, portal, tmp_path, clock):
    portal.respond = lambda endpoint, request: portal.signed(
        verdict_body(request, code="FINGERPRINT_MISMATCH", changed=["hostname"])
    )
    status = make_agent(tmp_path, None, clock, hostname="acme-srv02").validate()
    assert (status.licensed, status.code, status.changed) == (False, "FINGERPRINT_MISMATCH", ("hostname",))


def test_import_code(tmp_path, portal, clock):
    agent = make_agent(tmp_path, portal.url, clock)
    agent.pin()
    code = portal.signer.token(token_claims(agent.machine_uid(), organization=ORG, now=clock.now))
    status = agent.import_code(code)
    assert (status.licensed, status.code) == (True, "TOKEN_VALID")
    assert agent.status().licensed
    offline = make_agent(tmp_path, unused_port_url(), clock)
    assert offline.validate().licensed  # no key stored: nothing to ask, the code decides


def test_import_code_refuses_another_machine_an_expired_or_forged_code(tmp_path, portal, clock):
    agent = make_agent(tmp_path, portal.url, clock)
    agent.pin()
    uid = agent.machine_uid()
    bad_codes = [
        portal.signer.token(token_claims("a" * 64, organization=ORG, now=clock.now)),
        portal.signer.token(token_claims(uid, organization=ORG, now=clock.now - timedelta(days=31))),
        Signer(kid=portal.signer.kid).token(token_claims(uid, organization=ORG, now=clock.now)),
        "not a code",
    ]
    for code in bad_codes:
        with pytest.raises(TokenError):
            agent.import_code(code)
    assert agent.state_file.load().token is None


def test_import_code_offline_needs_pinned_keys(tmp_path, portal, clock):
    agent = make_agent(tmp_path, None, clock)
    with pytest.raises(AgentError, match="pin"):
        agent.import_code("a.b.c")


def test_inspect(tmp_path, portal, clock, key):
    agent = make_agent(tmp_path, portal.url, clock)
    report = agent.inspect(key)
    assert report.well_formed and report.signature_valid is None and report.key.kind == "machine"
    agent.pin()
    assert agent.inspect(key).signature_valid is True
    forged = agent.inspect(Signer().license_key("machine", ORG))
    assert forged.well_formed and forged.signature_valid is False
    typo = agent.inspect(key[:-1] + ("0" if key[-1] != "0" else "1"))
    assert not typo.well_formed and not typo.checksum_valid


def test_a_malformed_key_is_refused_without_the_network(tmp_path, clock):
    agent = make_agent(tmp_path, unused_port_url(), clock)
    status = agent.activate("LP1M-nonsense")
    assert (status.licensed, status.code) == (False, "NOT_FOUND")


def test_the_product_version_is_remembered_from_activate(activated, tmp_path, clock):
    agent = Agent(state_path=tmp_path / "state.json", clock=clock, **MACHINE)
    assert agent.machine_uid() == activated.machine_uid()
    with pytest.raises(AgentError, match="product version"):
        Agent(state_path=tmp_path / "other.json", **MACHINE).machine_uid()


def test_a_refused_other_key_leaves_the_stored_license_alone(activated, portal, tmp_path, clock):
    portal.code = "REVOKED"
    other = portal.signer.license_key("machine", ORG)
    assert activated.activate(other).code == "REVOKED"
    portal.code = "VALID"
    state = activated.state_file.load()
    assert state.license_key != other and state.token
    offline = make_agent(tmp_path, unused_port_url(), clock).validate()
    assert (offline.licensed, offline.code) == (True, "TOKEN_VALID")


def test_activating_another_key_replaces_the_stored_one(activated, portal, key):
    other = portal.signer.license_key("server", ORG)
    status = activated.activate(other)
    assert status.licensed
    state = activated.state_file.load()
    assert state.license_key == other and state.last_verdict["code"] == "VALID"

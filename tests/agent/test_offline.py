"""The offline rules (licensing_agent.offline.decide), on states built by hand."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from licensing_agent.offline import decide
from licensing_agent.state import State, format_time

from tests.agent.support import MACHINE_UID_442, Signer, token_claims

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
ORG = uuid.uuid4()
UID = MACHINE_UID_442


@pytest.fixture
def signer():
    return Signer()


def state_with(signer, *, issued=NOW - timedelta(days=60), token=True, pinned=True, **extra):
    state = State(
        license_key=signer.license_key("machine", ORG, issued),
        token=signer.token(token_claims(UID, organization=ORG, now=NOW - timedelta(days=1))) if token else None,
        pinned_keys={"keys": [signer.jwk()] if pinned else []},
    )
    for name, value in extra.items():
        setattr(state, name, value)
    return state


def test_an_unexpired_token_for_this_machine_licenses(signer):
    decision = decide(state_with(signer), UID, NOW)
    assert (decision.licensed, decision.code, decision.source) == (True, "TOKEN_VALID", "token")


def test_an_expired_token_after_the_grace_period_does_not(signer):
    decision = decide(state_with(signer), UID, NOW + timedelta(days=30))
    assert (decision.licensed, decision.code) == (False, "TOKEN_EXPIRED")


def test_a_token_for_another_machine_does_not(signer):
    decision = decide(state_with(signer), "e" * 64, NOW)
    assert (decision.licensed, decision.code) == (False, "TOKEN_OTHER_MACHINE")


def test_a_token_of_another_organization_than_the_key_does_not(signer):
    state = state_with(signer)
    state.token = signer.token(token_claims(UID, organization=uuid.uuid4(), now=NOW))
    assert not decide(state, UID, NOW).licensed


def test_a_tampered_token_does_not(signer):
    state = state_with(signer)
    state.token = Signer(kid=signer.kid).token(token_claims(UID, organization=ORG, now=NOW))
    decision = decide(state, UID, NOW)
    assert (decision.licensed, decision.code) == (False, "TOKEN_INVALID")


def test_grace_period_of_seven_days_from_the_key_issue_date(signer):
    state = state_with(signer, issued=NOW - timedelta(days=6, hours=23), token=False)
    decision = decide(state, UID, NOW)
    assert (decision.licensed, decision.code, decision.source) == (True, "GRACE_PERIOD", "grace")
    assert decision.grace_ends_at == NOW + timedelta(hours=1)
    later = decide(state, UID, NOW + timedelta(hours=1))
    assert (later.licensed, later.code) == (False, "GRACE_EXPIRED")


def test_the_grace_period_ends_with_the_license_when_a_verdict_said_so(signer):
    state = state_with(signer, issued=NOW - timedelta(days=1), token=False)
    state.last_verdict = {
        "code": "VALID",
        "valid": True,
        "expires_at": format_time(NOW + timedelta(minutes=30)),
        "for_machine_uid": UID,
    }
    assert decide(state, UID, NOW).licensed
    assert not decide(state, UID, NOW + timedelta(minutes=30)).licensed


def test_the_grace_period_needs_pinned_keys(signer):
    state = state_with(signer, issued=NOW - timedelta(days=1), token=False, pinned=False)
    decision = decide(state, UID, NOW)
    assert (decision.licensed, decision.code) == (False, "KEY_UNVERIFIED")


def test_a_forged_key_gets_no_grace_period(signer):
    forged = Signer().license_key("machine", ORG, NOW)  # fresh issue date, signed by someone else
    state = state_with(signer, token=False)
    state.license_key = forged
    decision = decide(state, UID, NOW)
    assert (decision.licensed, decision.code) == (False, "KEY_UNVERIFIED")


def test_no_key_and_no_token(signer):
    decision = decide(State(pinned_keys={"keys": [signer.jwk()]}), UID, NOW)
    assert (decision.licensed, decision.code) == (False, "NO_KEY")


def test_a_manual_activation_token_without_a_key_licenses(signer):
    state = state_with(signer)
    state.license_key = None
    assert decide(state, UID, NOW).licensed


def test_clock_set_back_behind_the_last_time_seen(signer):
    state = state_with(signer, last_seen_time=format_time(NOW + timedelta(days=2)))
    decision = decide(state, UID, NOW)
    assert (decision.licensed, decision.code) == (False, "CLOCK_SET_BACK")
    assert decide(state, UID, NOW + timedelta(days=2) - timedelta(minutes=4)).licensed  # within tolerance


def test_clock_set_back_before_the_key_was_issued(signer):
    state = state_with(signer, issued=NOW + timedelta(days=1), token=False)
    assert decide(state, UID, NOW).code == "CLOCK_SET_BACK"


def test_the_portal_saying_no_outlives_a_cached_token(signer):
    state = state_with(signer)
    state.last_verdict = {"code": "REVOKED", "valid": False, "detail": "revoked", "for_machine_uid": UID}
    decision = decide(state, UID, NOW)
    assert (decision.licensed, decision.code) == (False, "REVOKED")
    # ...for the machine it was said to; this machine's token still counts after a rename back
    state.last_verdict["for_machine_uid"] = "d" * 64
    assert decide(state, UID, NOW).licensed

"""Failed key guesses: well-formed keys that answer NOT_FOUND, counted per address under a low
limit of their own (a NAT'd fleet shares one address and its 1,200 calls a minute)."""

from __future__ import annotations

import logging
import uuid

import pytest
from django.core.cache import cache
from django.utils import timezone

from licenses import keyformat, signing
from tests.conftest import Agent


def made_up_key(organization_id: str) -> str:
    """A key of the right shape and checksum, signed by the portal's key, that was never issued."""
    return keyformat.key_build(
        kind="machine",
        organization_id=uuid.UUID(organization_id),
        issued_at=timezone.now(),
        private_key=signing.keyring().active.private_key,
    )


@pytest.fixture(params=["in-process", "redis"])
def counted(request, settings):
    settings.API_FAILED_GUESS_LIMIT_PER_IP = 5
    if request.param == "redis":
        request.getfixturevalue("cache_on")
    else:
        cache.clear()  # the process's counters, from earlier tests in this minute
    return settings


@pytest.mark.django_db
def test_after_the_limit_of_failed_guesses_the_address_is_refused(counted, org, machine_key, caplog):
    agent = Agent()
    with caplog.at_level(logging.WARNING, logger="licenses"):
        for _ in range(5):
            assert agent.validate(made_up_key(org["id"]))["code"] == "NOT_FOUND"
        response = agent.call("validate", made_up_key(org["id"]))
    assert response.status_code == 429, response.content
    assert response.json()["error"]["code"] == "RATE_LIMITED"
    assert int(response["Retry-After"]) >= 1
    assert any("failed key guesses" in record.getMessage() for record in caplog.records), caplog.records
    # Every call from that address waits now: otherwise a refusal would tell a guess from a real key.
    assert agent.call("validate", machine_key["key"]).status_code == 429


@pytest.mark.django_db
def test_typos_and_real_keys_are_not_guesses(counted, org, machine_key):
    agent = Agent()
    assert agent.activate(machine_key["key"])["code"] == "VALID"
    typo = machine_key["key"][:-1] + ("A" if machine_key["key"][-1] != "A" else "B")
    for _ in range(10):
        assert agent.validate(typo)["code"] == "NOT_FOUND"  # a checksum failure: a typo, not a guess
    for _ in range(10):
        assert agent.validate(machine_key["key"])["code"] == "VALID"


@pytest.mark.django_db
def test_guesses_from_one_address_leave_another_address_alone(counted, org, machine_key):
    from django.test import Client

    guesser = Agent(Client(REMOTE_ADDR="203.0.113.9"))
    for _ in range(6):
        guesser.call("validate", made_up_key(org["id"]))
    assert guesser.call("validate", machine_key["key"]).status_code == 429
    fleet = Agent(Client(REMOTE_ADDR="198.51.100.7"))
    assert fleet.activate(machine_key["key"])["code"] == "VALID"

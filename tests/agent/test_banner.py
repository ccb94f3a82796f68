"""The trial banner reaches the agent's users: the verdict's ``license.banner``, kept for ``status``
offline, and printed by the command line; a free-edition key has none and no paid features."""

from __future__ import annotations

import pytest
from licensing_agent.cli import main

from tests.agent.support import MACHINE
from tests.agent.test_live_portal import clock, make_agent, org, portal  # noqa: F401
from tests.conftest import command

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
MACHINE_ARGS = ["--mac", MACHINE["mac"], "--cpu-id", MACHINE["cpu_id"], "--hostname", MACHINE["hostname"]]


def test_the_agent_shows_the_trial_banner_online_offline_and_on_the_command_line(
    portal,  # noqa: F811
    org,  # noqa: F811
    make_agent,  # noqa: F811
    tmp_path,
    capsys,
):
    trial = command("issue_key", org["id"], "--kind", "trial")
    agent = make_agent(portal)
    status = agent.activate(trial["key"])
    assert status.licensed and status.banner.startswith("Trial license: for evaluation and stopgap use")
    assert agent.validate().banner == status.banner
    assert agent.status().banner == status.banner  # offline: from the last trusted verdict
    assert agent.status().as_json()["banner"] == status.banner

    code = main(["status", "--state", str(tmp_path / "state.json"), "--product-version", "4.4.2", *MACHINE_ARGS])
    out = capsys.readouterr().out
    assert code == 0 and "Trial license: for evaluation and stopgap use" in out.splitlines()[1]


def test_a_free_edition_key_has_no_banner_and_no_paid_features(portal, org, make_agent):  # noqa: F811
    free = command("issue_key", org["id"], "--kind", "free")
    status = make_agent(portal).activate(free["key"])
    assert status.licensed and status.banner is None
    assert status.verdict.edition == "free" and status.capabilities["paid_features"] is False

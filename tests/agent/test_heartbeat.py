"""``Heartbeat``: validates on an interval and calls back when the license is lost."""

import threading
import uuid
from datetime import timedelta

from licensing_agent import Agent, Heartbeat

from tests.agent.support import MACHINE, IssuingPortal

ORG = uuid.uuid4()


def test_the_callback_runs_once_when_the_verdict_turns_invalid(tmp_path):
    with IssuingPortal(ORG) as portal:
        agent = Agent(product_version="4.4.2", portal_url=portal.url, state_path=tmp_path / "s.json", **MACHINE)
        assert agent.activate(
            portal.signer.license_key("temporary", ORG, portal.clock.now - timedelta(hours=1))
        ).licensed
        lost, beats = [], []
        two_invalid_beats = threading.Event()

        def on_status(status):
            beats.append(status.code)
            if beats.count("EXPIRED") >= 2:
                two_invalid_beats.set()

        with Heartbeat(agent, interval=0.05, on_invalid=lost.append, on_status=on_status) as heartbeat:
            while len(beats) < 2:
                threading.Event().wait(0.01)
            portal.code = "EXPIRED"  # the temporary key's TTL ends
            assert two_invalid_beats.wait(5)
            assert heartbeat.running
        assert not heartbeat.running
    assert [status.code for status in lost] == ["EXPIRED"]
    assert not lost[0].licensed and lost[0].connection == "portal"


def test_licensed_again_then_lost_again_calls_back_again(tmp_path):
    class Scripted:
        def __init__(self, answers):
            self.answers = iter(answers)

        def validate(self):
            licensed = next(self.answers)
            return type("S", (), {"licensed": licensed, "warnings": (), "code": "X", "detail": ""})()

    lost = []
    heartbeat = Heartbeat(Scripted([True, False, False, True, False]), interval=60, on_invalid=lost.append)
    for _ in range(5):
        heartbeat.beat()
    assert len(lost) == 2


def test_a_failing_beat_or_callback_does_not_stop_the_heartbeat():
    class Broken:
        calls = 0

        def validate(self):
            self.calls += 1
            raise OSError("state file gone")

    errors = []
    agent = Broken()
    heartbeat = Heartbeat(agent, interval=0.01, on_invalid=lambda status: 1 / 0, on_error=errors.append).start()
    while agent.calls < 3:
        threading.Event().wait(0.01)
    heartbeat.stop()
    assert not heartbeat.running
    assert all(isinstance(error, OSError) for error in errors)


def test_stop_is_prompt_with_a_long_interval(tmp_path):
    class Quiet:
        def validate(self):
            return type("S", (), {"licensed": True, "warnings": (), "code": "VALID", "detail": ""})()

    heartbeat = Heartbeat(Quiet(), interval=3600, on_invalid=print).start()
    heartbeat.stop(timeout=2)
    assert not heartbeat.running

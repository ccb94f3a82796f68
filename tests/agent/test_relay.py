"""A verdict relay: a man in the middle forwards the agent's call (with its nonce) to the real
portal, but with another machine's valid key or fingerprint, and hands the agent the real portal's
signed answer. The signature and the nonce hold; the verdict is about someone else. The agent
checks ``license.key_digest`` and ``machine.uid`` (AGENT_PROTOCOL.md 1.1) and counts it as no answer."""

from __future__ import annotations

import json
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from licensing_agent import Agent

from tests.agent.support import MACHINE, Clock
from tests.conftest import OTHER_MACHINE, command

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


class Relay:
    """Forwards everything to ``portal``; ``rewrite(request_json)`` may change agent calls on the way."""

    def __init__(self, portal: str):
        self.rewrite = None
        relay = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _forward(self, body: bytes | None):
                request = urllib.request.Request(portal + self.path, data=body, method=self.command)
                request.add_header("Content-Type", "application/json")
                try:
                    answer = urllib.request.urlopen(request, timeout=10)
                    status = answer.status
                except urllib.error.HTTPError as error:
                    answer, status = error, error.code
                data = answer.read()
                self.send_response(status)
                for name in ("Content-Type", "License-Signature", "Retry-After"):
                    if answer.headers.get(name):
                        self.send_header(name, answer.headers[name])
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._forward(None)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if relay.rewrite is not None:
                    body = json.dumps(relay.rewrite(json.loads(body))).encode()
                self._forward(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def relay(live_server):
    relay = Relay(live_server.url)
    yield relay
    relay.close()


@pytest.fixture
def org(live_server):
    organization = command("create_organization", "Acme Relay")
    command("create_environment", organization["id"], "Production")
    return organization


def make_agent(tmp_path, portal_url, name="state.json", **machine):
    return Agent(
        product_version="4.4.2",
        portal_url=portal_url,
        state_path=tmp_path / name,
        clock=Clock(),
        sleep=lambda seconds: None,
        **(dict(MACHINE) | machine),
    )


@pytest.fixture
def revoked_agent(tmp_path, relay, org, live_server):
    """An agent (behind the relay) whose key was revoked, and another machine's valid key."""
    mine = command("issue_key", org["id"], "--kind", "machine", "--environment", "Production")
    theirs = command("issue_key", org["id"], "--kind", "machine", "--environment", "Production")
    agent = make_agent(tmp_path, relay.url)
    assert agent.activate(mine["key"]).code == "VALID"
    other = {"mac": OTHER_MACHINE["mac"], "cpu_id": OTHER_MACHINE["cpu_id"], "hostname": OTHER_MACHINE["hostname"]}
    assert make_agent(tmp_path, live_server.url, "other.json", **other).activate(theirs["key"]).code == "VALID"
    command("revoke_key", mine["id"])
    return agent, theirs


def test_a_verdict_about_another_key_is_no_answer(revoked_agent, relay):
    agent, theirs = revoked_agent
    relay.rewrite = lambda request: {
        **request,
        "license_key": theirs["key"],
        "fingerprint": {**request["fingerprint"], **{k: OTHER_MACHINE[k] for k in ("mac", "cpu_id", "hostname")}},
    }
    status = agent.validate()
    assert status.code != "VALID"
    assert status.connection == "untrusted"
    assert any("another license key" in warning for warning in status.warnings), status.warnings


def test_a_verdict_about_another_machine_is_no_answer(tmp_path, relay, org):
    """Same key, another machine: a relay sends a copy's call from the machine the key is bound to."""
    key = command("issue_key", org["id"], "--kind", "machine", "--environment", "Production")
    bound = make_agent(tmp_path, relay.url, "bound.json")
    assert bound.activate(key["key"]).code == "VALID"
    copy = make_agent(tmp_path, relay.url, "copy.json", hostname="acme-copy")
    bound_fingerprint = bound.fingerprint().as_request() if hasattr(bound.fingerprint(), "as_request") else None
    relay.rewrite = lambda request: {
        **request,
        "fingerprint": {**request["fingerprint"], "hostname": MACHINE["hostname"]},
    }
    del bound_fingerprint
    status = copy.activate(key["key"])
    assert status.code != "VALID"
    assert status.connection == "untrusted"
    assert any("another machine" in warning for warning in status.warnings), status.warnings


def test_an_honest_relay_is_trusted(tmp_path, relay, org):
    key = command("issue_key", org["id"], "--kind", "machine", "--environment", "Production")
    agent = make_agent(tmp_path, relay.url)
    assert agent.activate(key["key"]).code == "VALID"
    assert agent.validate().code == "VALID"

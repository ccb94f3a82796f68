"""An integrator's whole session, as README.md and the served docs tell it, through gunicorn and
PostgreSQL with the job worker running: a token, a webhook endpoint, an organization created and
renewed, a key issued and revoked; each change arrives as a signed webhook that the
``standardwebhooks`` library verifies (v1), and whose v1a signature verifies with the JWK Set."""

from __future__ import annotations

import base64
import json
import time
import urllib.request

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from standardwebhooks import Webhook

from tests.conftest import command
from tests.integrations.test_live_flow import call
from tests.support.servers import Receiver, gunicorn, job_worker

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

WEBHOOK_ENV = {"WEBHOOK_ALLOW_PRIVATE_DESTINATIONS": "true"}  # the receiver listens on 127.0.0.1


def _v1a_verifies(url: str, delivery: dict) -> bool:
    headers = {name.lower(): value for name, value in delivery["headers"].items()}
    with urllib.request.urlopen(f"{url}/.well-known/jwks.json", timeout=10) as response:
        keys = {key["kid"]: key for key in json.loads(response.read())["keys"]}
    jwk = keys[headers["webhook-signature-kid"]]
    public = Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(jwk["x"] + "=="))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + delivery["body"]
    signatures = dict(part.split(",", 1) for part in headers["webhook-signature"].split())
    public.verify(base64.b64decode(signatures["v1a"]), signed)  # raises if it does not verify
    return True


@pytest.mark.django_db(transaction=True)
def test_an_integrator_receives_a_signed_webhook_for_each_change(fast_passwords):
    scopes = "organizations:write,organizations:read,machines:write,keys:write,keys:read,webhooks:write"
    token = command("create_api_token", "--vendor", "--name", "crm", "--scopes", scopes)["token"]
    with Receiver() as receiver, gunicorn(workers=2, env=WEBHOOK_ENV) as (_process, url), job_worker(env=WEBHOOK_ENV):
        status, endpoint = call(url, token, "POST", "/webhook-endpoints", {"url": receiver.url, "events": ["*"]})
        assert status == 201 and endpoint["secret"].startswith("whsec_")
        assert "secret" not in call(url, token, "GET", f"/webhook-endpoints/{endpoint['id']}")[1]

        status, organization = call(url, token, "POST", "/organizations", {"name": "Initech", "subscription_days": 30})
        slug = organization["slug"]
        call(url, token, "POST", f"/organizations/{slug}/renew", {"months": 12})
        call(url, token, "POST", f"/organizations/{slug}/environments", {"name": "Production"})
        status, issued = call(
            url, token, "POST", f"/organizations/{slug}/keys", {"kind": "machine", "environment": "Production"}
        )
        assert status == 201
        call(url, token, "POST", f"/keys/{issued['id']}/revoke", {"reason": "refunded"})

        wanted = ["organization.created", "subscription.renewed", "license.created", "license.revoked"]

        def types(received):
            return [json.loads(delivery["body"])["type"] for delivery in received]

        received = receiver.wait_for(lambda got: all(kind in types(got) for kind in wanted))
        verifier = Webhook(endpoint["secret"])
        for delivery in received:
            payload = verifier.verify(delivery["body"], delivery["headers"])  # raises on a bad signature
            assert _v1a_verifies(url, delivery)
            assert set(payload) == {"type", "timestamp", "data"}
            assert "key" not in payload["data"]  # never a key's text
        by_type = {json.loads(delivery["body"])["type"]: json.loads(delivery["body"]) for delivery in received}
        assert by_type["organization.created"]["data"]["slug"] == slug
        assert by_type["subscription.renewed"]["data"]["subscription_ends_at"] > organization["subscription_ends_at"]
        assert by_type["license.created"]["data"]["id"] == issued["id"]
        assert by_type["license.revoked"]["data"]["status"] == "revoked"
        assert len({delivery["headers"]["webhook-id"] for delivery in received}) == len(received)

        def log_statuses() -> set[str]:
            status, log = call(url, token, "GET", f"/webhook-endpoints/{endpoint['id']}/deliveries")
            assert status == 200
            return {entry["status"] for entry in log["data"]}

        deadline = time.monotonic() + 60  # the environment's event may still be on its way
        while log_statuses() != {"succeeded"} and time.monotonic() < deadline:
            time.sleep(0.5)
        assert log_statuses() == {"succeeded"}

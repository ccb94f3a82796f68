"""Standard Webhooks signatures (MANAGEMENT_API.md, "Webhooks").

Both over ``{webhook-id}.{webhook-timestamp}.{body}``: ``v1`` is HMAC-SHA256 with the endpoint's
secret (``whsec_`` + base64: the key is the decoded part, as the ``standardwebhooks`` libraries read
it); ``v1a`` is Ed25519 by the portal's active signing key, whose public half is in the JWK Set
(``/.well-known/jwks.json``), named by ``webhook-signature-kid``: an integrator who already trusts
the portal's keys for agents' verdicts verifies webhooks with the same set.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from licenses import signing


def secret_bytes(secret: str) -> bytes:
    """The HMAC key of a ``whsec_…`` secret; padding added as the reference library does, so that a
    secret pasted without its ``=`` signs as the receiver's library expects."""
    return base64.b64decode(secret.removeprefix("whsec_") + "==")


def signed_content(webhook_id: str, timestamp: int, body: bytes) -> bytes:
    return f"{webhook_id}.{timestamp}.".encode() + body


def headers(*, secret: str, webhook_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The signature headers of one attempt."""
    content = signed_content(webhook_id, timestamp, body)
    v1 = base64.b64encode(hmac.new(secret_bytes(secret), content, hashlib.sha256).digest()).decode()
    key = signing.keyring().active
    v1a = base64.b64encode(key.sign(content)).decode()
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": f"v1,{v1} v1a,{v1a}",
        "webhook-signature-kid": key.kid,
    }

"""Test helpers: keys, tokens and verdicts made here with ``cryptography`` (docs/KEY_FORMAT.md,
AGENT_PROTOCOL.md), and a fake portal on 127.0.0.1 that signs with whatever key a test gives it."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
import threading
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

MACHINE = {"mac": "00:1a:2b:3c:4d:5e", "cpu_id": "BFEBFBFF000906EA", "hostname": "acme-srv01"}
MACHINE_UID_442 = "0f1b6ff645458c48cfc2c6058f9240062dacdb68b1f948daff82299c4e8c908a"
KIND_LETTERS = {"machine": "M", "temporary": "T", "server": "S", "trial": "R", "free": "F"}
KIND_CODES = {"machine": 1, "temporary": 2, "server": 3, "trial": 4, "free": 5}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def crc(text: str) -> str:
    return format(zlib.crc32(text.encode("ascii")) & 0xFFFFFFFF, "08x")


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Signer:
    """One Ed25519 signing key of a (fake) portal."""

    kid: str = field(default_factory=lambda: "test-" + secrets.token_hex(4))
    private_key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)

    def jwk(self) -> dict:
        raw = self.private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw), "kid": self.kid, "alg": "EdDSA", "use": "sig"}

    def license_key(self, kind="machine", organization: uuid.UUID | None = None, issued_at=None) -> str:
        """A key exactly as docs/KEY_FORMAT.md says."""
        organization = organization or uuid.uuid4()
        issued_at = issued_at or datetime.now(UTC)
        signed = (
            struct.pack(">BB", 1, KIND_CODES[kind])
            + organization.bytes
            + struct.pack(">Q", int(issued_at.timestamp()))
            + secrets.token_bytes(16)
        )
        body = signed + self.private_key.sign(b"LP1-key\n" + signed)
        head = f"LP1{KIND_LETTERS[kind]}-{b64url(body)}"
        return f"{head}-{crc(head)}"

    def token(self, claims: dict, *, kid: str | None = None, alg: str = "EdDSA") -> str:
        header = {"alg": alg, "typ": "JWT", "kid": kid or self.kid}
        signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
        return signing_input + "." + b64url(self.private_key.sign(signing_input.encode()))

    def signature_header(self, body: bytes, *, kid: str | None = None) -> str:
        return f'kid="{kid or self.kid}", sig="{b64url(self.private_key.sign(body))}"'


def token_claims(uid: str, *, organization: uuid.UUID, now: datetime, lease=timedelta(days=30), kind="machine"):
    return {
        "iss": "licensing-portal",
        "sub": str(uuid.uuid4()),
        "iat": int(now.timestamp()),
        "nbf": int(now.timestamp()),
        "exp": int((now + lease).timestamp()),
        "machine_uid": uid,
        "org": str(organization),
        "kind": kind,
        "edition": "paid",
        "environment": "Production",
        "capabilities": {"save_data_configuration": kind != "temporary"},
    }


def verdict_body(request: dict, *, code="VALID", time=None, nonce=None, **extra) -> dict:
    """A verdict as the portal gives it about the request's key and machine (``license.key_digest``,
    ``machine.uid``), so that the agent's relay check holds unless a test changes them."""
    from licensing_agent.fingerprint import machine_uid

    key = request.get("license_key") or ""
    fingerprint = request.get("fingerprint")
    uid = machine_uid(**fingerprint) if isinstance(fingerprint, dict) else "x"
    body = {
        "valid": code == "VALID",
        "code": code,
        "detail": f"answer {code}",
        "license": {
            "id": str(uuid.uuid4()),
            "kind": "machine",
            "edition": "paid",
            "organization": {"id": str(uuid.uuid4()), "name": "Acme"},
            "environment": "Production",
            "expires_at": None,
            "capabilities": {"save_data_configuration": True},
            "key_digest": hashlib.sha256(key.strip().encode()).hexdigest(),
        },
        "time": rfc3339(time or datetime.now(UTC)),
    }
    if code == "VALID":
        body["machine"] = {"uid": uid, "activated_at": rfc3339(datetime.now(UTC))}
    nonce = request.get("nonce") if nonce is None else nonce
    if nonce is not None:
        body["nonce"] = nonce
    body.update(extra)
    return body


Response = tuple[int, dict, bytes]


class FakePortal:
    """A portal impostor on 127.0.0.1: serves a JWK Set and answers the agent calls with ``respond``.

    ``respond(endpoint, request_json) -> (status, headers, body)``; the default answers a VALID
    verdict signed by ``signer``, echoing the nonce.
    """

    def __init__(self, signer: Signer | None = None, jwks_signers: list[Signer] | None = None):
        self.signer = signer or Signer()
        self.jwks_signers = jwks_signers if jwks_signers is not None else [self.signer]
        self.requests: list[tuple[str, dict]] = []
        self.respond: Callable[[str, dict], Response] = self.valid
        portal = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status: int, headers: dict, body: bytes):
                self.send_response(status)
                headers = {"Content-Type": "application/json", **headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                try:
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the agent gave up waiting (the time-out tests): nobody to answer

            def do_GET(self):
                portal.requests.append((self.path, {}))
                if self.path == "/api/v1/jwks":
                    keys = {"keys": [signer.jwk() for signer in portal.jwks_signers]}
                    return self._send(200, {}, json.dumps(keys).encode())
                return self._send(404, {}, b'{"error": {"code": "NOT_FOUND_ROUTE", "detail": "no"}}')

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                data = json.loads(self.rfile.read(length) or b"{}")
                endpoint = self.path.rsplit("/", 1)[-1]
                portal.requests.append((endpoint, data))
                self._send(*portal.respond(endpoint, data))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> FakePortal:
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.server.shutdown()
        self.server.server_close()

    def signed(self, body: dict, *, signer: Signer | None = None, status: int = 200) -> Response:
        data = json.dumps(body, separators=(",", ":")).encode()
        return status, {"License-Signature": (signer or self.signer).signature_header(data)}, data

    def valid(self, endpoint: str, request: dict) -> Response:
        return self.signed(verdict_body(request))

    def agent_calls(self) -> list[tuple[str, dict]]:
        return [(endpoint, data) for endpoint, data in self.requests if not endpoint.startswith("/")]


class IssuingPortal(FakePortal):
    """A fake portal that answers ``code`` (VALID by default) and hands out activation tokens like the real one."""

    def __init__(self, organization: uuid.UUID, **kwargs):
        super().__init__(**kwargs)
        self.organization = organization
        self.code = "VALID"
        self.clock = Clock()
        self.respond = self.answer

    def answer(self, endpoint: str, request: dict) -> Response:
        from licensing_agent.fingerprint import machine_uid

        code = "DEACTIVATED" if endpoint == "deactivate" and self.code == "VALID" else self.code
        extra = {}
        if endpoint == "activate" and code == "VALID":
            uid = machine_uid(**request["fingerprint"])
            extra["activation"] = self.signer.token(
                token_claims(uid, organization=self.organization, now=self.clock.now)
            )
        return self.signed(verdict_body(request, code=code, time=self.clock.now, **extra))


def unused_port_url() -> str:
    """A loopback URL where nothing listens (the port was free a moment ago)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class Clock:
    """A clock a test moves."""

    def __init__(self, now: datetime | None = None):
        self.now = now or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs) -> None:
        self.now += timedelta(**kwargs)

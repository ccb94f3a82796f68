"""A real OpenID Connect provider for the single sign-on tests: node's oidc-provider on loopback.

Its packages are installed by scripts/test (``npm ci`` in tests/support/oidc, from the committed
package-lock.json). The provider's development sign-in page accepts any login and password; the login
is the account's e-mail, verified unless it starts with "unverified".
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import requests

from tests.support.servers import free_port

HERE = Path(__file__).resolve().parent / "oidc"


@dataclass
class Provider:
    issuer: str
    client_id: str = "licensing-portal"
    client_secret: str = "a-test-client-secret-of-some-length"


@contextlib.contextmanager
def oidc_provider(redirect_uris: list[str]):
    node = shutil.which("node")
    if node is None or not (HERE / "node_modules" / "oidc-provider").exists():
        raise RuntimeError(
            "The OIDC test provider needs node and `npm ci` in tests/support/oidc (scripts/test does it)."
        )
    port = free_port()
    provider = Provider(issuer=f"http://127.0.0.1:{port}")
    env = {
        **os.environ,
        "OIDC_PORT": str(port),
        "OIDC_CLIENT_ID": provider.client_id,
        "OIDC_CLIENT_SECRET": provider.client_secret,
        "OIDC_REDIRECT_URIS": " ".join(redirect_uris),
        "NODE_NO_WARNINGS": "1",
    }
    process = subprocess.Popen(
        [node, str(HERE / "provider.js")], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        line = process.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"the OIDC test provider did not start: {line!r}")
        yield provider
    finally:
        process.terminate()
        process.wait(timeout=10)


def _submit(session: requests.Session, response: requests.Response, data: dict) -> requests.Response:
    action = re.search(r'<form[^>]*action="([^"]+)"', response.text).group(1)
    return session.post(urljoin(response.url, action), data=data, timeout=10)


def sign_in_through(session: requests.Session, start_url: str, login: str) -> requests.Response:
    """Follow the sign-in as a browser would: the portal sends us to the provider, we sign in there
    (and consent the first time), the provider sends us back to the portal's callback."""
    response = session.get(start_url, timeout=10)
    if 'value="login"' in response.text:
        response = _submit(session, response, {"prompt": "login", "login": login, "password": "any"})
    if 'value="consent"' in response.text:
        response = _submit(session, response, {"prompt": "consent"})
    return response

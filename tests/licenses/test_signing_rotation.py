"""Signing-key rotation: old tokens stay verifiable until they expire, then the old key retires."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from django.test import Client

from licenses import keyformat, signing
from tests.conftest import FINGERPRINT, command


@pytest.fixture
def keyring_file(tmp_path, settings):
    settings.SIGNING_KEYS_FILE = str(tmp_path / "signing-keys.json")
    settings.SIGNING_KEYS = ""
    signing.keyring_reset()
    yield Path(settings.SIGNING_KEYS_FILE)
    signing.keyring_reset()


def activate(key: str) -> str:
    body = json.dumps({"license_key": key, "fingerprint": FINGERPRINT})
    return Client().post("/api/v1/activate", body, content_type="application/json").json()["activation"]


def verify(token: str) -> dict:
    key_set = jwt.PyJWKSet.from_dict(Client().get("/api/v1/jwks").json())
    kid = jwt.get_unverified_header(token)["kid"]
    matching = [key for key in key_set.keys if key.key_id == kid]
    if not matching:
        raise LookupError(f"kid {kid} is not in the JWK Set")
    return jwt.decode(token, matching[0].key, algorithms=["EdDSA"])


@pytest.mark.django_db
def test_rotation_keeps_old_tokens_verifiable_then_retires_the_old_key(keyring_file, org, machine_key):
    old_kid = signing.keyring().active_kid  # created when the fixture issued the key
    token_before = activate(machine_key["key"])

    rotated = command("rotate_signing_key", "--now")
    assert keyring_file.stat().st_mode & 0o777 == 0o600
    new_kid = rotated["signing"]
    assert new_kid != old_kid
    assert {key["kid"] for key in rotated["keys"]} == {old_kid, new_kid}
    kids = [key["kid"] for key in Client().get("/.well-known/jwks.json").json()["keys"]]
    assert sorted(kids) == sorted([old_kid, new_kid])

    assert verify(token_before)["sub"] == machine_key["id"]  # signed before the rotation
    token_after = activate(machine_key["key"])
    assert jwt.get_unverified_header(token_after)["kid"] == new_kid
    assert verify(token_after)["sub"] == machine_key["id"]

    # Retiring too early keeps the old key: its tokens have not expired.
    assert len(command("rotate_signing_key", "--retire-expired")["keys"]) == 2
    # Once the lease has passed, the old key goes.
    data = json.loads(keyring_file.read_text())
    for key in data["keys"]:
        if key["kid"] == old_kid:
            key["retire_after"] = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    keyring_file.write_text(json.dumps(data))
    signing.keyring_reset()
    command("revoke_key", machine_key["id"])  # the last license key the old key vouched for
    assert [key["kid"] for key in command("rotate_signing_key", "--retire-expired")["keys"]] == [new_kid]
    with pytest.raises(LookupError):
        verify(token_before)


@pytest.mark.django_db
def test_the_command_creates_a_missing_keyring(keyring_file):
    created = command("rotate_signing_key")
    assert [key["kid"] for key in created["keys"]] == [created["signing"]]
    assert json.loads(keyring_file.read_text())["active"] == created["signing"]


@pytest.mark.django_db
def test_keys_issued_before_a_rotation_keep_working(keyring_file, org):
    command("rotate_signing_key", "--now")
    key = command("issue_key", org["id"], "--kind", "trial")
    command("rotate_signing_key", "--now")
    assert keyformat.key_parse(key["key"]).verify(signing.keyring().public_keys())
    body = json.dumps({"license_key": key["key"], "fingerprint": FINGERPRINT})
    assert Client().post("/api/v1/activate", body, content_type="application/json").json()["code"] == "VALID"


@pytest.mark.django_db
def test_inline_keyring_cannot_be_rotated_by_the_command(settings):
    from django.core.management import CommandError, call_command

    settings.SIGNING_KEYS = json.dumps(signing.keyring().as_json())
    with pytest.raises(CommandError, match="SIGNING_KEYS"):
        call_command("rotate_signing_key")


@pytest.mark.django_db
def test_a_new_key_is_published_before_it_signs(keyring_file, org, machine_key, monkeypatch):
    old_kid = signing.keyring().active_kid
    rotated = command("rotate_signing_key")  # default: signs 10 minutes from now
    assert rotated["signing"] == old_kid and rotated["newest"] != old_kid
    kids = {key["kid"] for key in Client().get("/api/v1/jwks").json()["keys"]}
    assert kids == {old_kid, rotated["newest"]}
    assert jwt.get_unverified_header(activate(machine_key["key"]))["kid"] == old_kid
    later = datetime.now(UTC) + timedelta(minutes=11)
    monkeypatch.setattr(signing, "datetime", type("Clock", (), {"now": staticmethod(lambda tz=None: later)}))
    assert jwt.get_unverified_header(activate(machine_key["key"]))["kid"] == rotated["newest"]


@pytest.mark.django_db
def test_a_key_that_signed_live_license_keys_is_not_retired(keyring_file, org):
    old_kid = signing.keyring().active_kid
    machine = command("issue_key", org["id"], "--kind", "trial")
    command("rotate_signing_key", "--now")
    data = json.loads(keyring_file.read_text())
    for key in data["keys"]:
        if key["kid"] == old_kid:
            key["retire_after"] = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    keyring_file.write_text(json.dumps(data))
    signing.keyring_reset()
    kept = command("rotate_signing_key", "--retire-expired")
    old = next(key for key in kept["keys"] if key["kid"] == old_kid)
    assert "1 license keys" in old["kept_because"]
    command("revoke_key", machine["id"])
    assert old_kid not in {key["kid"] for key in command("rotate_signing_key", "--retire-expired")["keys"]}


@pytest.mark.django_db
def test_retire_drops_a_compromised_key_at_once(keyring_file, org):
    old_kid = signing.keyring().active_kid
    command("rotate_signing_key", "--now")
    assert old_kid not in {key["kid"] for key in command("rotate_signing_key", "--retire", old_kid)["keys"]}
    assert old_kid not in {key["kid"] for key in Client().get("/api/v1/jwks").json()["keys"]}


def test_a_key_published_ahead_signs_only_from_its_active_from():
    """``rotate_signing_key --activate-in``: the new key is in the JWK Set at once, and the old one
    goes on signing until the new one's moment has come; then the new one signs for good."""
    old = signing.signing_key_new()
    moment = datetime.now(UTC) + timedelta(seconds=0.5)
    new = signing.signing_key_new(active_from=moment)
    ring = signing.Keyring(active_kid=new.kid, keys=(old, new))
    assert ring.active is old
    assert {key["kid"] for key in ring.jwks()["keys"]} == {old.kid, new.kid}
    while datetime.now(UTC) < moment:
        time.sleep(0.05)
    assert ring.active is new
    assert signing.Keyring(active_kid=new.kid, keys=(old, new)).active is new  # as a fresh read sees it

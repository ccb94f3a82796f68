"""Production settings: `check --deploy` is clean, secrets fail fast, headers are strict."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.test import Client


def manage(*args, env: dict) -> subprocess.CompletedProcess:
    base = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    return subprocess.run(
        [sys.executable, "manage.py", *args], capture_output=True, text=True, timeout=120, env={**base, **env}
    )


def production_env(tmp_path) -> dict:
    return {
        "DEBUG": "false",
        "SECRET_KEY": "x" * 20 + "production-secret-key-0123456789",
        "SECRETS_DIR": str(tmp_path),
        "AUTO_CREATE_SECRETS": "true",
        "ALLOWED_HOSTS": "licenses.example.com",
        "SECURE_PROXY_SSL_HEADER": "true",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }


def test_production_settings_pass_check_deploy_without_warnings(tmp_path):
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DEBUG", "maybe", "DEBUG"),
        ("SECRET_KEY", "short", "SECRET_KEY"),
        ("CONN_MAX_AGE", "forever", "CONN_MAX_AGE"),
        ("ENCRYPTION_KEYS", "not-a-fernet-key", "ENCRYPTION_KEYS"),
        ("SIGNING_KEYS", "{not json", "signing keyring"),
    ],
)
def test_bad_values_fail_fast_with_a_message_naming_them(tmp_path, variable, value, message):
    result = manage("check", env={**production_env(tmp_path), variable: value})
    assert result.returncode != 0
    assert message in result.stderr


def test_missing_secrets_in_production_fail_fast(tmp_path):
    env = {**production_env(tmp_path), "AUTO_CREATE_SECRETS": "false"}
    env.pop("SECRET_KEY")
    result = manage("check", env=env)
    assert result.returncode != 0 and "SECRET_KEY is not set" in result.stderr


@pytest.mark.django_db
def test_pages_carry_a_strict_content_security_policy():
    response = Client().get("/healthz")
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"

"""Where a benchmark keeps its state, and the environment the seeder, the servers and the driver share.

Every process of a run (the seeder, each gunicorn, the query counter) gets the same variables, so
they share one signing keyring and one set of encryption keys (``bench/var/secrets``), one
PostgreSQL database per size (``bench_<keys>``) and one Redis database, where each size keeps its
keys under its own prefix (``bench-<keys>``): the sizes' machines have the same fingerprints, and
the latency comparison serves both sizes at once, so their verdict caches and "last seen" records
must not meet.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BENCH_DIR.parent
STATE_DIR = BENCH_DIR / "var"  # git-ignored: secrets and the keys files of seeded databases
RESULTS_DIR = BENCH_DIR / "results"
RAW_DIR = RESULTS_DIR / "raw"  # git-ignored scratch output
PYTHON = sys.executable

POSTGRES = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/2")
# Engineers sharing one PostgreSQL server give their runs' databases a prefix of their own.
DATABASE_PREFIX = os.environ.get("BENCH_DATABASE_PREFIX", "bench")

# All load comes from this one machine. Each simulated agent sends its own address in
# X-Forwarded-For (as the production proxy would), so the per-IP limit sees one agent per address;
# the limits are still raised so that a fast machine cycling through few keys is never refused.
# The rate-limit *work* (one Redis round trip per call) is done on every request all the same.
RATE_LIMIT_PER_IP = 1_000_000
RATE_LIMIT_PER_KEY = 100_000


def database_name(keys: int) -> str:
    return f"{DATABASE_PREFIX}_{keys}"


def database_url(keys: int) -> str:
    return f"{POSTGRES}/{database_name(keys)}"


def state_dir(keys: int) -> Path:
    return STATE_DIR / database_name(keys)


def bench_environment(keys: int) -> dict[str, str]:
    """The variables of every process of a run at this size (production settings, DEBUG off)."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "licensing_portal.settings",
        "DATABASE_URL": database_url(keys),
        "REDIS_URL": REDIS_URL,
        "CACHE_KEY_PREFIX": f"bench-{keys}",
        "SECRETS_DIR": str(STATE_DIR / "secrets"),
        "STATIC_ROOT": str(STATE_DIR / "static"),
        "AUTO_CREATE_SECRETS": "true",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "TRUSTED_PROXY_IP_HEADER": "X-Forwarded-For",
        "SECURE_PROXY_SSL_HEADER": "true",
        "API_RATE_LIMIT_PER_IP": str(RATE_LIMIT_PER_IP),
        "API_RATE_LIMIT_PER_KEY": str(RATE_LIMIT_PER_KEY),
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(PROJECT_DIR),
    }


def django_setup(keys: int) -> None:
    """Configure Django in this process for the database of this size."""
    os.environ.update(bench_environment(keys))
    if str(PROJECT_DIR) not in sys.path:
        sys.path.insert(0, str(PROJECT_DIR))
    import django

    django.setup()

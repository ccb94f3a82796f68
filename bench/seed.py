"""Seed a benchmark database: organizations, environments, keys of every kind, activated machines.

    .venv/bin/python bench/seed.py --keys 1000000

Rows go straight into the real tables with COPY, generated in parallel by worker processes (real
keys from ``keyformat.key_build``, their digests, their text encrypted with
``licenses.encryption.encrypt``, real machine UIDs). Foreign-key triggers are off during the load
(``session_replication_role = replica``); the generator keeps every reference consistent itself.

Layout, in blocks of ten keys of one organization: seven machine keys (five in Production, two in
Staging), one server key, one trial key and one temporary key. In an *active* block every machine,
server and trial key is bound to its own machine, and the temporary key works on the machine of the
block's first key (a registered machine of the organization). One block in 20 was never activated,
one in 100 is revoked. Organization 1 ("Big Customer") holds a tenth of all keys: its licenses tab
is the largest list page. Up to 20,000 keys of active blocks, spread over the whole table, are
written with their fingerprints to ``bench/var/bench_<keys>/keys.jsonl`` for the load generator.

A database already seeded at this size with the same secrets (less than 20 days ago, so that no
trial key has expired) is reused.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import multiprocessing
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.environment import POSTGRES, STATE_DIR, database_name, django_setup, state_dir

BLOCK = 10
KINDS = ["machine"] * 7 + ["server", "trial", "temporary"]
SAMPLE = 20_000
CHUNK_BLOCKS = 250
REUSE_DAYS = 20
ADMIN_USERNAME = "bench-admin"
ORG_NAMESPACE = uuid.UUID("6f2b5a8e-3c1d-4e7f-9a0b-1c2d3e4f5a6b")

KEY_COLUMNS = (
    "id, public_id, kind, organization_id, environment_id, machine_name, status, issued_at, expires_at, "
    "description, digest, signing_kid, encrypted_key, machine_id, bound_at, last_machine_uid, released_by, revoked_at, "
    "revocation_reason, deleted_at, created_at, updated_at, requested_by_id, issued_to_id, revoked_by_id"
)
MACHINE_COLUMNS = (
    "id, uid, organization_id, environment_id, name, mac, cpu_id, hostname, product_version, is_primary, "
    "bound_at, first_seen_at, last_seen_at"
)
EVENT_COLUMNS = "license_id, machine_uid, event, code, is_move, detail, actor_label, ip, created_at"
NULL = "\\N"


# The layout ----------------------------------------------------------------------------------------


def organizations_for(keys: int) -> int:
    return max(10, keys // 1000)


def block_state(block: int) -> str:
    if block % 100 == 13:
        return "revoked"
    if block % 20 == 7:
        return "fresh"
    return "active"


def organization_of(block: int, organizations: int) -> int:
    return 1 if block % 10 == 0 else 2 + block % (organizations - 1)


def organization_uuid(number: int) -> uuid.UUID:
    return uuid.uuid5(ORG_NAMESPACE, f"bench-organization-{number}")


def fingerprint_of(index: int, kind: str) -> dict[str, str]:
    prefix = {"machine": "agent", "server": "srv", "trial": "trial"}[kind]
    mac = ":".join(f"{byte:02x}" for byte in (2, *((index >> shift) & 0xFF for shift in (32, 24, 16, 8, 0))))
    return {
        "mac": mac,
        "cpu_id": f"BFEBFBFF{index:08X}",
        "hostname": f"{prefix}-{index:07d}",
        "product_version": "4.4.2",
    }


def agent_ip(index: int) -> str:
    return f"10.{(index >> 16) & 0xFF}.{(index >> 8) & 0xFF}.{index & 0xFF}"


def _ts(value: datetime | None) -> str:
    return NULL if value is None else value.isoformat()


# Generating rows (in worker processes) -------------------------------------------------------------

_worker: dict = {}


def _worker_init(now: datetime, organizations: int, sample_blocks: frozenset[int]) -> None:
    from licenses import signing

    # The parent's database connection is inherited but never used here (workers only generate).
    _worker.update(
        now=now,
        organizations=organizations,
        sample_blocks=sample_blocks,
        private_key=signing.keyring().active.private_key,
        signing_kid=signing.keyring().active.kid,
    )


def generate_blocks(blocks: range) -> tuple[str, str, str, list[dict]]:
    """COPY text for the keys, machines and history of these blocks, and the sampled keys."""
    from environments.fingerprint import fingerprint_parse
    from licenses import encryption, keyformat
    from licenses.services import server_key_expires_at

    now, organizations, sample_blocks = _worker["now"], _worker["organizations"], _worker["sample_blocks"]
    private_key, signing_kid = _worker["private_key"], _worker["signing_kid"]
    keys, machines, events, sample = io.StringIO(), io.StringIO(), io.StringIO(), []
    for block in blocks:
        state = block_state(block)
        organization = organization_of(block, organizations)
        org_uuid = organization_uuid(organization)
        first_fingerprint = None
        for position, kind in enumerate(KINDS):
            index = block * BLOCK + position
            key_id = index + 1
            if kind in ("machine", "server"):
                issued_at = now - timedelta(days=(index * 7919) % 300, seconds=index % 86_400)
            else:
                issued_at = now - timedelta(days=index % 5, seconds=index % 3_600)
            issued_at = issued_at.replace(microsecond=0)
            expires_at = {
                "machine": None,
                "server": server_key_expires_at((now + timedelta(days=365 + index % 30)).date()),
                "trial": issued_at + timedelta(days=30),
                "temporary": issued_at + timedelta(days=180),
            }[kind]
            environment = (2 * organization - 1 if position < 5 else 2 * organization) if kind == "machine" else None
            text = keyformat.key_build(
                kind=kind, organization_id=org_uuid, issued_at=issued_at, private_key=private_key
            )
            fingerprint = first_fingerprint if kind == "temporary" else fingerprint_of(index, kind)
            uid = fingerprint_parse(fingerprint).uid
            if position == 0:
                first_fingerprint = fingerprint
            bound_at = issued_at + timedelta(hours=1)
            machine_id, key_bound_at, last_uid, released = None, None, "", ""
            status, revoked_at, reason = "active", None, ""
            if kind != "temporary" and state != "fresh":
                machines.write(
                    "\t".join(
                        (
                            str(key_id),
                            uid,
                            str(organization),
                            str(environment) if environment else NULL,
                            fingerprint["hostname"],
                            fingerprint["mac"],
                            fingerprint["cpu_id"],
                            fingerprint["hostname"],
                            fingerprint["product_version"],
                            "f",
                            _ts(bound_at),
                            _ts(bound_at),
                            _ts(now - timedelta(days=1)),
                        )
                    )
                    + "\n"
                )
                events.write(f"{key_id}\t{uid}\tactivate\tVALID\tf\t\tagent\t{agent_ip(index)}\t{_ts(bound_at)}\n")
                last_uid = uid
                if state == "active":
                    machine_id, key_bound_at = key_id, bound_at
                else:
                    released = "detach"
            if state == "revoked":
                status, revoked_at, reason = "revoked", issued_at + timedelta(minutes=1), "Seeded as revoked"
                events.write(f"{key_id}\t{last_uid}\trevoke\t\tf\t{reason}\tbench\t\t{_ts(revoked_at)}\n")
            keys.write(
                "\t".join(
                    (
                        str(key_id),
                        str(uuid.uuid4()),
                        kind,
                        str(organization),
                        str(environment) if environment else NULL,
                        f"SRV-{index:07d}" if kind == "server" else "",
                        status,
                        _ts(issued_at),
                        _ts(expires_at),
                        "",
                        keyformat.key_digest(text),
                        signing_kid,
                        encryption.encrypt(text),
                        str(machine_id) if machine_id else NULL,
                        _ts(key_bound_at),
                        last_uid,
                        released,
                        _ts(revoked_at),
                        reason,
                        NULL,
                        _ts(issued_at),
                        _ts(issued_at),
                        NULL,
                        NULL,
                        NULL,
                    )
                )
                + "\n"
            )
            if block in sample_blocks:
                sample.append(
                    {
                        "key": text,
                        "kind": kind,
                        "fingerprint": fingerprint,
                        "machine_id": block * BLOCK + 1 if kind == "temporary" else key_id,
                        "ip": agent_ip(index),
                    }
                )
    return keys.getvalue(), machines.getvalue(), events.getvalue(), sample


# The database --------------------------------------------------------------------------------------


def _server_connection(database: str = "postgres"):
    import psycopg

    return psycopg.connect(f"{POSTGRES}/{database}", autocommit=True)


def secrets_id() -> str:
    """Identifies the secrets the rows were made with (a reseed is needed if they change)."""
    from licenses import signing

    signing.keyring()  # creates the keyring on the first run
    secrets = STATE_DIR / "secrets"
    digest = hashlib.sha256()
    for name in ("encryption-keys", "signing-keys.json"):
        digest.update((secrets / name).read_bytes())
    return digest.hexdigest()[:16]


def seeded_marker(keys: int) -> dict | None:
    """What an earlier seed of this size left in its database, with the sample it was asked for
    (None if nothing usable)."""
    import psycopg

    try:
        connection = _server_connection(database_name(keys))
    except psycopg.OperationalError:
        return None
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass('bench_seed')")
            if cursor.fetchone()[0] is None:
                return None
            cursor.execute("SELECT keys, secrets, seeded_at, sample FROM bench_seed")
            row = cursor.fetchone()
    finally:
        connection.close()
    if row is None:
        return None
    return {"keys": row[0], "secrets": row[1], "seeded_at": row[2], "sample": row[3]}


def database_recreate(keys: int) -> None:
    name = database_name(keys)
    connection = _server_connection()
    try:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        connection.close()


class Progress:
    """A one-line progress bar on stderr."""

    def __init__(self, total: int, label: str):
        self.total, self.label, self.done, self.started = total, label, 0, time.monotonic()

    def advance(self, count: int) -> None:
        self.done += count
        elapsed = time.monotonic() - self.started
        rate = self.done / elapsed if elapsed else 0
        eta = (self.total - self.done) / rate if rate else 0
        filled = int(30 * self.done / self.total)
        sys.stderr.write(
            f"\r{self.label} [{'#' * filled}{'.' * (30 - filled)}] {self.done:,}/{self.total:,}"
            f" {rate:,.0f}/s ETA {eta:,.0f}s "
        )
        sys.stderr.flush()

    def finish(self) -> float:
        elapsed = time.monotonic() - self.started
        sys.stderr.write(f"\r{self.label}: {self.done:,} in {elapsed:,.1f}s{' ' * 40}\n")
        return elapsed


def _copy(cursor, table: str, columns: str, text: str) -> None:
    if text:
        with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            copy.write(text)


def seed(keys: int, *, sample: int = SAMPLE, force: bool = False, processes: int = 2) -> dict:
    """Seed (or reuse) the database of this size; return what the benchmark needs to know about it."""
    keys = -(-keys // BLOCK) * BLOCK
    django_setup(keys)
    secrets = secrets_id()
    keys_file = state_dir(keys) / "keys.jsonl"
    marker = seeded_marker(keys)
    if (
        not force
        and marker is not None
        and marker["keys"] == keys
        and marker["secrets"] == secrets
        and marker["sample"] == sample
        and datetime.now(UTC) - marker["seeded_at"] < timedelta(days=REUSE_DAYS)
        and keys_file.exists()
    ):
        from django.core.management import call_command

        call_command("migrate", verbosity=0)  # the schema may have moved on since the seed
        print(f"Reusing {database_name(keys)} (seeded {marker['seeded_at']:%Y-%m-%d %H:%M} UTC).", file=sys.stderr)
        return {"keys": keys, "keys_file": str(keys_file), "reused": True, "seconds": 0.0}

    started = time.monotonic()
    database_recreate(keys)
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    now = datetime.now(UTC).replace(microsecond=0)
    organizations = organizations_for(keys)
    blocks = keys // BLOCK
    active = [block for block in range(blocks) if block_state(block) == "active"]
    sample_blocks = frozenset(random.Random(keys).sample(active, min(len(active), max(1, sample // BLOCK))))

    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")  # no FK triggers during the load
        cursor.execute("SET synchronous_commit = off")
        rows = []
        for number in range(1, organizations + 1):
            name = "Big Customer" if number == 1 else f"Customer {number:04d}"
            slug = "big-customer" if number == 1 else f"customer-{number:04d}"
            rows.append(
                f"{number}\t{organization_uuid(number)}\t{name}\t{slug}\tactive\tpaid\t"
                f"{_ts(now - timedelta(days=400))}\t{_ts(now + timedelta(days=400))}\t3\tstrict\t{_ts(now)}\n"
            )
        _copy(
            cursor,
            "organizations_organization",
            "id, uuid, name, slug, status, edition, subscription_starts_at, subscription_ends_at, "
            "transfer_limit, fingerprint_policy, created_at",
            "".join(rows),
        )
        rows = []
        for number in range(1, organizations + 1):
            for offset, name in ((1, "Production"), (0, "Staging")):
                rows.append(f"{2 * number - offset}\t{uuid.uuid4()}\t{name}\tt\t{NULL}\t{_ts(now)}\t{number}\n")
        _copy(
            cursor,
            "environments_environment",
            "id, uuid, name, enabled, deleted_at, created_at, organization_id",
            "".join(rows),
        )

        chunks = [range(start, min(start + CHUNK_BLOCKS, blocks)) for start in range(0, blocks, CHUNK_BLOCKS)]
        progress = Progress(keys, f"seeding {database_name(keys)}")
        sampled: list[dict] = []
        context = multiprocessing.get_context("fork")
        with context.Pool(processes, initializer=_worker_init, initargs=(now, organizations, sample_blocks)) as pool:
            for key_rows, machine_rows, event_rows, chunk_sample in pool.imap(generate_blocks, chunks):
                _copy(cursor, "environments_machine", MACHINE_COLUMNS, machine_rows)
                _copy(cursor, "licenses_licensekey", KEY_COLUMNS, key_rows)
                _copy(cursor, "licenses_activationevent", EVENT_COLUMNS, event_rows)
                sampled.extend(chunk_sample)
                progress.advance(key_rows.count("\n"))
        progress.finish()
        cursor.execute("SET session_replication_role = origin")
        for table in (
            "organizations_organization",
            "environments_environment",
            "environments_machine",
            "licenses_licensekey",
            "licenses_activationevent",
        ):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT coalesce(max(id), 1) FROM {table}))"
            )

    _admin_user()
    with connection.cursor() as cursor:
        sys.stderr.write("VACUUM ANALYZE ...\n")
        cursor.execute("VACUUM ANALYZE")
        cursor.execute("CREATE TABLE bench_seed (keys integer, secrets text, seeded_at timestamptz, sample integer)")
        cursor.execute("INSERT INTO bench_seed VALUES (%s, %s, %s, %s)", [keys, secrets, now, sample])

    random.Random(1).shuffle(sampled)  # spread kinds and organizations evenly over the cycle
    keys_file.parent.mkdir(parents=True, exist_ok=True)
    with keys_file.open("w") as handle:
        for entry in sampled:
            handle.write(json.dumps(entry) + "\n")
    seconds = time.monotonic() - started
    print(f"Seeded {database_name(keys)}: {keys:,} keys in {seconds:,.0f}s.", file=sys.stderr)
    return {"keys": keys, "keys_file": str(keys_file), "reused": False, "seconds": round(seconds, 1)}


def _admin_user():
    from organizations.models import User
    from organizations.services import user_create

    if not User.objects.filter(username=ADMIN_USERNAME).exists():
        user_create(actor=None, username=ADMIN_USERNAME, role="super_admin", password=uuid.uuid4().hex)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=1_000_000, help="how many license keys (default 1,000,000)")
    parser.add_argument("--sample", type=int, default=SAMPLE, help="keys the load generator cycles through")
    parser.add_argument("--force", action="store_true", help="seed again even if a seeded database exists")
    options = parser.parse_args(argv)
    print(json.dumps(seed(options.keys, sample=options.sample, force=options.force)))


if __name__ == "__main__":
    main()

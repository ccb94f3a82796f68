"""The agent API's hot statements, as literal SQL (PostgreSQL), with bound parameters.

Every heartbeat runs ``VERDICT_BY_DIGEST`` (unless the verdict cache has its rows), a temporary key's
also ``REGISTERED_MACHINE``, an activation ``HISTORY_INSERT``; ``SEEN_UPDATE`` writes many machines'
"last seen" at once, ``HISTORY_BATCH_INSERT`` many unchanged re-activations' history rows. Through
the ORM, compiling them cost more CPU than PostgreSQL spends running them, and PostgreSQL spends
longer planning the four-table lookup than running it: each is prepared once per connection
(``execute``) and then only executed. Paste any of them into psql as ``PREPARE name AS
<statement>;`` and ``EXECUTE name(...)``.

The SELECTs list every column of their models in the models' field order (``tests/api/test_sql.py``
checks that against the models, and that the registered-machine test is ``registered_machine_filter``'s),
so their rows become model instances field by field (``flow``). On SQLite the ORM runs the same
queries: the embedded default serves one site, and its rows would need converting.
"""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS, connections

# A key with its organization, environment and bound machine, by the key's look-up digest ($1).
VERDICT_BY_DIGEST = """
SELECT k.id, k.public_id, k.kind, k.organization_id, k.environment_id, k.machine_name, k.status,
       k.issued_at, k.expires_at, k.description, k.requested_by_id, k.issued_to_id, k.digest,
       k.signing_kid, k.encrypted_key, k.machine_id, k.bound_at, k.last_machine_uid, k.released_by,
       k.revoked_at, k.revoked_by_id, k.revocation_reason, k.deleted_at, k.created_at, k.updated_at,
       o.id, o.uuid, o.name, o.slug, o.status, o.edition, o.subscription_starts_at,
       o.subscription_ends_at, o.transfer_limit, o.fingerprint_policy, o.created_at,
       e.id, e.uuid, e.organization_id, e.name, e.enabled, e.deleted_at, e.created_at,
       m.id, m.uid, m.organization_id, m.environment_id, m.name, m.mac, m.cpu_id, m.hostname,
       m.product_version, m.is_primary, m.bound_at, m.first_seen_at, m.last_seen_at, m.superseded_by_id
FROM licenses_licensekey k
JOIN organizations_organization o ON o.id = k.organization_id
LEFT JOIN environments_environment e ON e.id = k.environment_id
LEFT JOIN environments_machine m ON m.id = k.machine_id
WHERE k.digest = $1
"""

# The machine with UID $2, and whether it is a registered machine of organization $1: bound to it
# and holding one of its machine, server, trial or free keys that is not revoked (AGENT_PROTOCOL.md).
REGISTERED_MACHINE = """
SELECT m.id, m.uid, m.organization_id, m.environment_id, m.name, m.mac, m.cpu_id, m.hostname,
       m.product_version, m.is_primary, m.bound_at, m.first_seen_at, m.last_seen_at, m.superseded_by_id,
       m.organization_id = $1 AND EXISTS (
           SELECT 1 FROM licenses_licensekey k
           WHERE k.machine_id = m.id AND k.organization_id = $1
             AND k.kind IN ('machine', 'server', 'trial', 'free') AND k.status <> 'revoked'
       ) AS is_registered_machine
FROM environments_machine m
WHERE m.uid = $2
"""

# One row of a key's history.
HISTORY_INSERT = """
INSERT INTO licenses_activationevent
    (license_id, machine_uid, event, code, is_move, detail, actor_label, ip, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
"""

# "Last seen" of many machines at once: UIDs $1 and times $2, in the same order; a time older than
# the one a machine already has is left alone.
SEEN_UPDATE = """
UPDATE environments_machine m SET last_seen_at = seen.at
FROM unnest($1::varchar[], $2::timestamptz[]) AS seen (uid, at)
WHERE m.uid = seen.uid AND m.last_seen_at < seen.at
"""

# Many unchanged re-activations' history rows at once (``seen``): keys $1, machine UIDs $2, codes $3,
# actors $4, addresses $5 and times $6, in the same order. A row already written (a flush that died
# after its commit and is written again) is not written twice: a re-activation of a key on a machine
# writes at most one row a minute, so key, machine and time name it.
HISTORY_BATCH_INSERT = """
INSERT INTO licenses_activationevent
    (license_id, machine_uid, event, code, is_move, detail, actor_label, ip, created_at)
SELECT r.license_id, r.uid, 'activate', r.code, false, '', r.actor, r.ip, r.at
FROM unnest($1::bigint[], $2::varchar[], $3::varchar[], $4::varchar[], $5::varchar[], $6::timestamptz[])
    AS r (license_id, uid, code, actor, ip, at)
WHERE NOT EXISTS (
    SELECT 1 FROM licenses_activationevent e
    WHERE e.license_id = r.license_id AND e.created_at = r.at AND e.machine_uid = r.uid AND e.event = 'activate'
)
"""

STATEMENTS = {
    "agent_verdict_by_digest": VERDICT_BY_DIGEST,
    "agent_registered_machine": REGISTERED_MACHINE,
    "agent_history_insert": HISTORY_INSERT,
    "agent_seen_update": SEEN_UPDATE,
    "agent_history_batch_insert": HISTORY_BATCH_INSERT,
}


def execute(name: str, params: list):
    """Run the statement ``name`` with ``params``, prepared on this connection the first time (in the
    same round trip); return the first row, or None."""
    wrapper = connections[DEFAULT_DB_ALIAS]  # ``connection`` is a proxy that looks it up on every use
    with wrapper.cursor() as cursor:
        prepared = _prepared(wrapper, cursor)
        arguments = ", ".join(["%s"] * len(params))
        if name in prepared:
            cursor.execute(f"EXECUTE {name}({arguments})", params)
        else:
            wrapper.agent_prepared = None  # unknown until it succeeds: asked again next time
            cursor.execute(f"PREPARE {name} AS {STATEMENTS[name]}; EXECUTE {name}({arguments})", params)
            cursor.nextset()  # psycopg 3 answers each statement: the EXECUTE's result is the second
            wrapper.agent_prepared = (wrapper.connection, prepared | {name})
        return cursor.fetchone() if cursor.description else None


def _prepared(wrapper, cursor) -> frozenset[str]:
    """The statements prepared on ``wrapper``'s current connection: asked of PostgreSQL once per
    connection (a new connection has none; a failed ``PREPARE`` leaves them unknown)."""
    state = getattr(wrapper, "agent_prepared", None)
    if state is None or state[0] is not wrapper.connection:
        cursor.execute("SELECT name FROM pg_prepared_statements")
        state = wrapper.agent_prepared = (wrapper.connection, frozenset(row[0] for row in cursor.fetchall()))
    return state[1]

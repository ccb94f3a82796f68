"""The agent API (AGENT_PROTOCOL.md): ``/api/v1/activate``, ``validate`` and ``deactivate``.

- ``views``: HTTP in and out (parsing, the protocol's errors in its order, signed verdicts).
- ``flow``: an agent call: its key and machine (from the verdict cache or the database), the verdict
  (``LicenseKey.verdict_for``), and what the call writes.
- ``sql``: the hot path's statements, as literal SQL (PostgreSQL); the ORM does everything else.
- ``seen``: "last seen" and the unchanged re-activations' history, coalesced.
- ``state_cache``: the verdict inputs cached in Redis, and their invalidation.
- ``language``: the texts in German for a call whose ``Accept-Language`` asks (English costs nothing).

The Django and redis-py internals this package relies on, each pinned by
``tests/api/test_internals.py`` (a Django or redis-py upgrade that changes one fails there):

- ``BaseDatabaseWrapper.connection``: the raw DB-API connection, to know whether this connection has
  prepared the statements of ``sql`` (a new connection has none) — ``sql.execute``.
- ``BaseDatabaseWrapper.health_check_done``: set before an agent call's first query, so that Django
  skips its ``SELECT 1`` health check; the call's own first statement finds a dead connection and is
  run once more on a new one — ``views.on_a_live_connection``.
- ``RedisCache._cache`` and its ``get_client(write=True)``: the cache backend's redis-py client, so
  that the scripts share the backend's connection pool — ``core.ratelimit.ScriptRunner``.

And redis-py's connection API below its client (public, but what most code never calls), pinned
there too: a connection of the pool (``ConnectionPool.get_connection``) sends a command that hiredis
packed (``Connection.send_packed_command``) and reads its reply (``Connection.read_response``), for
the scripts — ``core.ratelimit.ScriptRunner``.
"""

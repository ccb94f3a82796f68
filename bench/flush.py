"""How long the "last seen" flush takes for a minute of a fleet's heartbeats.

    .venv/bin/python bench/flush.py --keys 100000 --machines 20000    # 100,000 agents at 300 s

A fleet of N agents heartbeating every 300 s has about N / 5 machines pending each minute, and one
worker writes them all once it has answered the call that took the flush
(``licenses/agent_api/seen.py``). Here the seeded database's machines are made pending in Redis, as
heartbeats leave them (each a second later than its row), and the flush that a worker would run
is run in this process, ``--repeat`` times; printed: the wall time of each flush, the CPU this
process spent on it (a worker's share: Redis's reply, the statements' parameters) and what
PostgreSQL's backends spent meanwhile, per flush and per machine. ``bench/fleet.py`` measures the
flush after each of its cells as well, at the size of a cell.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.environment import database_name


def postgres_seconds() -> float:
    """CPU seconds of every PostgreSQL process so far (the exited backends' included)."""
    import os

    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if text[text.index("(") + 1 : text.rindex(")")].startswith("postgres"):
            ticks += sum(int(value) for value in text[text.rindex(")") + 2 :].split()[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=100_000, help="the seeded size (bench/seed.py)")
    parser.add_argument("--machines", type=int, default=20_000, help="machines pending per flush")
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args(argv)
    from bench.seed import seed

    seed(options.keys, sample=options.keys)  # the fleet cell's database, reused if seeded
    from django.db import connection

    from core import ratelimit
    from licenses.agent_api import seen

    runner = ratelimit.script_runner()
    if runner is None:
        raise SystemExit("the flush needs Redis (REDIS_URL)")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT uid, EXTRACT(EPOCH FROM last_seen_at)::bigint FROM environments_machine ORDER BY id LIMIT %s",
            [options.machines],
        )
        machines = cursor.fetchall()
    print(
        f"{database_name(options.keys)}: a flush of {len(machines):,} machines, {options.repeat} times",
        file=sys.stderr,
    )
    seen.flush_if_due(force=True)  # nothing of an earlier run left pending
    for number in range(1, options.repeat + 1):
        pending = runner.make_key(seen.PENDING)
        latest = max(at for _, at in machines)
        for start in range(0, len(machines), 10_000):
            chunk = machines[start : start + 10_000]
            runner.client.hset(pending, mapping={uid: max(at, latest) + number for uid, at in chunk})
        connection.close()  # the flush opens its connection as a worker's would be open: measured apart
        connection.ensure_connection()
        wall, cpu, database = time.monotonic(), time.process_time(), postgres_seconds()
        written = seen.flush_if_due(force=True)
        wall, cpu = time.monotonic() - wall, time.process_time() - cpu
        database = postgres_seconds() - database
        print(
            f"flush {number}: {written:,} machines in {wall:.2f} s; CPU: this process {cpu:.2f} s,"
            f" PostgreSQL {database:.2f} s; per machine {wall / written * 1e6:.0f} µs"
            f" ({datetime.now(UTC):%Y-%m-%d %H:%M UTC})"
        )


if __name__ == "__main__":
    from bench.environment import django_setup

    keys_argument = next((arg.split("=", 1)[1] for arg in sys.argv if arg.startswith("--keys=")), None)
    if keys_argument is None and "--keys" in sys.argv:
        keys_argument = sys.argv[sys.argv.index("--keys") + 1]
    django_setup(int(keys_argument or 100_000))
    main()

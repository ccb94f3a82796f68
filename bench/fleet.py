"""The fleet cell: validate as a fleet calls it, against the one-query floor, in one run.

    .venv/bin/python bench/fleet.py --keys 100000           # seeded or reused (bench/seed.py)

Agents heartbeat every few minutes, so in production each machine calls about once in any short
window, its "last seen" more than a minute old, its key cached (entries live an hour). The headline
cells of ``bench/run.py`` send the same sample many times a minute, so they never show what a
heartbeat whose "last seen" is due costs. Here:

- ``floor``: ``GET /healthz`` (one trivial query), the ceiling of any request on this machine;
- ``fleet``: ``validate``, each machine of the sample at most once in the cell (the cell stops
  before the sample wraps), every machine's "last seen" two minutes old, every key cached;
- ``fleet_miss``: the same with one key in twelve evicted from the verdict cache first;
- ``activate``: re-activations of the keys already bound to their machines, as the fleet renews
  its tokens (cache warm).

The floor and the cells take turns (``--rounds``), each round with a fresh part of the sample, so a
shared machine's drift falls on each alike; ratios are taken within this run only.

What each cell writes to PostgreSQL is counted around it, after the warm-up's pending "last seen"
times are flushed (so they are not charged to the cell) and again after the cell's own flush:
rows from ``pg_stat_user_tables`` (updates of machines, inserts of history rows) and write
transactions from the transaction-id counter (``pg_current_snapshot()``'s ``xmax``: only a
transaction that writes takes an id, so the workers' reads do not count). A fleet's heartbeat
changes its machine's "last seen", so one row per heartbeat is the floor for any design that keeps
it within a minute; what batching saves is statements and transactions (one per thousand rows).
Writes ``bench/results/fleet.json`` and ``fleet.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.environment import RAW_DIR, RESULTS_DIR, database_name
from bench.sample import sample_machines, touch, warm_cache
from bench.seed import seed
from bench.serving import CpuMeter, Portal, cpu_per_request, http_post, wrk_run

MISS_EVERY = 12
FLUSH_SECONDS = 10  # the workers' "last seen" flush window in this run (60 in production)


def rows_written() -> dict[str, int]:
    """Rows inserted, updated or deleted in the tables a heartbeat can write, and the next
    transaction id (``transactions``: the count of transactions that wrote anything, in any
    database of the cluster; this query takes none)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables"
            " WHERE relname IN ('environments_machine', 'licenses_activationevent')"
            " UNION ALL SELECT 'transactions', pg_snapshot_xmax(pg_current_snapshot())::text::bigint"
        )
        return dict(cursor.fetchall())


def evict(entries: list[dict]) -> int:
    """Delete the verdict-cache entry of one key in ``MISS_EVERY``: their next call reads PostgreSQL."""
    from core import ratelimit
    from licenses import keyformat
    from licenses.agent_api import state_cache

    runner = ratelimit.script_runner()
    names = [runner.make_key(state_cache._entry(keyformat.key_digest(entry["key"]))) for entry in entries]
    return runner.client.delete(*names[::MISS_EVERY]) if names else 0


def write_requests(path: Path, entries: list[dict]) -> None:
    with path.open("w") as handle:
        for number, entry in enumerate(entries):
            body = {"license_key": entry["key"], "fingerprint": entry["fingerprint"], "nonce": f"fleet-{number}"}
            handle.write(f"{entry['ip']}\t{json.dumps(body, separators=(',', ':'))}\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument(
        "--sample", type=int, default=None, help="keys in the sample (default: every key, so that no cell wraps)"
    )
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (default 4, as docs/DEPLOYMENT.md)")
    parser.add_argument("--seconds", type=float, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--port", type=int, default=8141)
    options = parser.parse_args(argv)
    seeded = seed(options.keys, sample=options.sample or options.keys)
    entries = [json.loads(line) for line in Path(seeded["keys_file"]).read_text().splitlines()]
    entries = [entry for entry in entries if entry["kind"] != "temporary"]  # bound keys: a fleet's agents
    out_dir = RAW_DIR / f"fleet-{database_name(seeded['keys'])}"
    out_dir.mkdir(parents=True, exist_ok=True)
    from django.db import connection

    portal = Portal(seeded["keys"], instances=1, workers=options.workers, base_port=options.port, log_dir=out_dir)
    cells: dict[str, list[dict]] = {"floor": [], "fleet": [], "fleet_miss": [], "activate": []}
    written: dict[str, dict[str, float]] = {
        name: {"calls": 0, "rows": 0, "transactions": 0, "flush_cpu": 0.0, "flushes": []} for name in cells
    }
    per_round = len(entries) // (options.rounds * 3)
    try:
        portal.start()
        meter = CpuMeter(portal)
        base = f"http://127.0.0.1:{portal.ports[0]}"
        for round_number in range(options.rounds):
            parts = {}
            for number, name in enumerate(("fleet", "fleet_miss", "activate")):
                start = (round_number * 3 + number) * per_round
                part = entries[start : start + per_round]
                path = out_dir / f"{name}-{round_number}.tsv"
                write_requests(path, part)
                parts[name] = (part, path)
                touch(*sample_machines(part), fresh=False)  # "last seen" two minutes old, cache cleared
            connection.close()
            for name, (part, path) in parts.items():  # every key of this round cached, then the cell
                warm_cache(portal.ports, path)
                if name == "fleet_miss":
                    evict(part)
            time.sleep(FLUSH_SECONDS + 1)
            flush_after_call(base, entries[-1])  # the warm-up's "last seen" times are written now, not in a cell
            time.sleep(11)  # PostgreSQL 15: an idle backend reports its statistics within 10 s
            for name in cells:
                path = parts[name][1] if name in parts else None
                endpoint = {"floor": "/healthz", "activate": "/api/v1/activate"}.get(name, "/api/v1/validate")
                before, cpu_before = rows_written(), meter.snapshot()
                run = wrk_run(
                    portal, path=endpoint, requests_file=path, connections=options.connections, seconds=options.seconds
                )
                run["cpu_seconds"] = {part: used - cpu_before[part] for part, used in meter.snapshot().items()}
                run["wrapped"] = path is not None and run["requests"] > len(parts[name][0])
                cells[name].append(run)
                if name == "floor":
                    time.sleep(11)  # its queries' statistics reach PostgreSQL's counters before the next cell's
                else:
                    time.sleep(FLUSH_SECONDS + 1)  # a worker's next call after the window flushes this cell's times
                    flush_before = meter.snapshot()
                    answered, done = flush_after_call(base, parts[name][0][0])  # it flushes this cell's times
                    flushed = meter.snapshot()
                    written[name]["flush_cpu"] += sum(flushed[part] - flush_before[part] for part in flushed)
                    flush = {"answered_ms": round(answered * 1000, 1), "seconds": round(done, 2)}
                    written[name]["flushes"].append(flush)
                    time.sleep(11)  # PostgreSQL 15: an idle backend reports its statistics within 10 s
                    after = rows_written()
                    written[name]["calls"] += run["requests"]
                    transactions = after.pop("transactions") - before.pop("transactions")
                    written[name]["rows"] += sum(after.values()) - sum(before.values())
                    written[name]["transactions"] += transactions
                print(f"round {round_number} {name}: {run['requests_per_second']:.0f} req/s", file=sys.stderr)
                connection.close()
    finally:
        portal.stop()
    report = summarise(seeded, options, cells, written)
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "fleet.json").write_text(json.dumps(report, indent=2))
    (RESULTS_DIR / "fleet.md").write_text(markdown(report))
    print(markdown(report))


def flush_after_call(base: str, entry: dict) -> tuple[float, float]:
    """One call after the flush window: its worker answers it, then flushes what is pending. Returns
    how long the call took to be answered and how long until Redis held nothing for PostgreSQL, in
    seconds from sending it."""
    from core import ratelimit
    from licenses.agent_api import seen

    runner = ratelimit.script_runner()
    waiting = [runner.make_key(name) for name in seen.WAITING]
    body = json.dumps({"license_key": entry["key"], "fingerprint": entry["fingerprint"]}).encode()
    sent = time.monotonic()
    http_post(f"{base}/api/v1/validate", body, entry["ip"])
    answered = time.monotonic() - sent
    while runner.client.exists(*waiting):
        if time.monotonic() - sent > 300:
            raise SystemExit("the flush did not end within 300 s")
        time.sleep(0.01)
    return answered, time.monotonic() - sent


def summarise(seeded: dict, options, cells: dict[str, list[dict]], written: dict) -> dict:
    def rate(runs: list[dict]) -> float:
        return sum(run["requests"] for run in runs) / sum(run["seconds"] for run in runs)

    floor = rate(cells["floor"])
    return {
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "keys": seeded["keys"],
        "connections": options.connections,
        "workers": options.workers,
        "rounds": options.rounds,
        "cells": {
            name: {
                "requests_per_second": round(rate(runs)),
                "of_floor": round(rate(runs) / floor, 2),
                "p50_ms": sorted(run["latency_ms"]["p50"] for run in runs)[len(runs) // 2],
                "p99_ms": sorted(run["latency_ms"]["p99"] for run in runs)[len(runs) // 2],
                "errors": sum(run["errors"] for run in runs),
                "cpu_us_per_request": cpu_per_request(runs),
                "wrapped": any(run.get("wrapped") for run in runs),
                "rows_per_call": round(written[name]["rows"] / written[name]["calls"], 4)
                if written[name]["calls"]
                else None,
                "transactions_per_call": round(written[name]["transactions"] / written[name]["calls"], 4)
                if written[name]["calls"]
                else None,
                "flush_cpu_us_per_call": round(written[name]["flush_cpu"] * 1e6 / written[name]["calls"])
                if written[name]["calls"]
                else None,
                "flushes": written[name]["flushes"],  # per round: the flushing call's answer, the flush's end
            }
            for name, runs in cells.items()
        },
    }


def markdown(report: dict) -> str:
    lines = [
        f"Fleet cell, {report['measured_at']}: {report['keys']:,} keys, {report['workers']} gunicorn workers,"
        f" {report['connections']} connections, {report['rounds']} rounds (each machine at most once per cell).",
        "",
        "| cell | req/s | × floor | p50 ms | p99 ms | PostgreSQL rows written per call | PostgreSQL transactions"
        " per call | errors | CPU µs/request: workers · PostgreSQL · Redis · wrk = all | flush CPU µs per call"
        " | flush: its call answered (ms), the flush done (s) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, cell in report["cells"].items():
        rows = "" if cell["rows_per_call"] is None else f"{cell['rows_per_call']:.4f}"
        transactions = "" if cell.get("transactions_per_call") is None else f"{cell['transactions_per_call']:.4f}"
        wrapped = " (wrapped)" if cell["wrapped"] else ""
        flush = "" if cell.get("flush_cpu_us_per_call") is None else f"{cell['flush_cpu_us_per_call']:,}"
        timing = ", ".join(f"{one['answered_ms']:.0f} ms · {one['seconds']:.2f} s" for one in cell.get("flushes", []))
        lines.append(
            f"| {name}{wrapped} | {cell['requests_per_second']:,} | {cell['of_floor']:.2f} | {cell['p50_ms']:.2f}"
            f" | {cell['p99_ms']:.2f} | {rows} | {transactions} | {cell['errors']} | {_cpu_text(cell)} | {flush}"
            f" | {timing} |"
        )
    lines += [
        "",
        "CPU per request is every process's share (the kernel's work for each included) while the cell ran."
        " The rows a cell writes reach PostgreSQL after it, in the flush (one call after the window, whose"
        " worker flushes once it has answered), so their cost is not in that figure: the flush column is what"
        " the flush cost the workers, PostgreSQL and Redis, divided by the cell's calls (CPU clock ticks: about"
        " ±10 ms over the whole flush). The last column gives, for each round, how long the call that took"
        " the flush waited for its answer and how long until the flush had written every machine of the cell.",
    ]
    return "\n".join(lines) + "\n"


def _cpu_text(cell: dict) -> str:
    used = cell["cpu_us_per_request"]
    return f"{used['workers']:,} · {used['postgres']:,} · {used['redis']:,} · {used['wrk']:,} = {used['all']:,}"


if __name__ == "__main__":
    from bench.environment import django_setup

    keys_argument = next((arg.split("=", 1)[1] for arg in sys.argv if arg.startswith("--keys=")), None)
    if keys_argument is None and "--keys" in sys.argv:
        keys_argument = sys.argv[sys.argv.index("--keys") + 1]
    import os

    os.environ["MACHINE_SEEN_WRITE_SECONDS"] = str(FLUSH_SECONDS)  # the seeder's and the servers' environment
    django_setup(int(keys_argument or 100_000))
    main()

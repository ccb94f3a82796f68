"""Instructions per request, counted by valgrind: the ratios that the host's noise cannot move.

    .venv/bin/python bench/instructions.py                 # 1,000,000 keys (seeded or reused)
    .venv/bin/python bench/instructions.py --keys 10000
    .venv/bin/python bench/instructions.py --keys 10000 --profile validate   # where the time goes

``bench/run.py`` measures throughput, which on a shared two-core VM drifts by a third within a
minute. This counts what one request costs the worker's own code instead (Python, its C extensions,
libpq, hiredis, libsodium; not the kernel, PostgreSQL or Redis), which for the floor and validate is
the same from run to run to within 0.2 % (activate's still moves by up to 9 %, docs/PERFORMANCE.md):
a change's effect on the hot path shows here even when the load test cannot see it.

The portal's WSGI application runs in this process, as a gunicorn worker runs it (production
settings, DEBUG off, the size's database and Redis, the verdict cache on), under
``valgrind --tool=callgrind``. Each path is called 200 times first (caches, prepared statements,
the verdict cache), then 100 or 100 + ``--requests`` times; the difference of the two runs' totals,
divided by ``--requests``, is one request's instructions. The agent calls cycle through the first
``CALLS`` keys of the load test's sample (``activate`` through the keys that re-activate, as its
cell does), their machines marked as just seen, so no "last seen" write is due; the warm-up goes
once through the whole cycle, so every counted call finds its key in the verdict cache (the cached
heartbeat a fleet sends; ``bench/fleet.py`` measures the misses). Writes
``bench/results/instructions.json`` and ``instructions.md``.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.environment import PROJECT_DIR, PYTHON, RESULTS_DIR, bench_environment, database_name

PATHS = {"floor": "/healthz", "validate": "/api/v1/validate", "activate": "/api/v1/activate"}
WARM = 200
BASE = 100
CALLS = 500  # sample keys the agent calls cycle through (each warmed once)


def _environ(path: str, body: bytes, ip: str) -> dict:
    return {
        "REQUEST_METHOD": "POST" if body else "GET",
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8101",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1",
        "HTTP_X_FORWARDED_PROTO": "https",
        "HTTP_X_FORWARDED_FOR": ip,
        "CONTENT_TYPE": "application/json" if body else "",
        "CONTENT_LENGTH": str(len(body)) if body else "",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


def serve(keys: int, name: str, count: int, profile: bool = False) -> None:
    """``--inner``: call every path WARM times (an agent path once through its cycle), then
    ``name``'s ``count`` times (under valgrind); with ``profile``, print where those calls spend
    their time, by function (cProfile)."""
    from bench.environment import django_setup

    django_setup(keys)
    from django.core.handlers.wsgi import WSGIHandler

    from bench.sample import sample_machines, touch
    from bench.seed import seed

    entries = [json.loads(line) for line in Path(seed(keys)["keys_file"]).read_text().splitlines()][:CALLS]
    touch(*sample_machines(entries), fresh=True)

    def agent_calls(path: str, kinds: set[str]) -> list[tuple[str, bytes, str]]:
        return [
            (path, json.dumps(body, separators=(",", ":")).encode(), entry["ip"])
            for number, entry in enumerate(entries)
            if entry["kind"] in kinds
            for body in [{"license_key": entry["key"], "fingerprint": entry["fingerprint"], "nonce": f"i-{number}"}]
        ]

    every_kind = {entry["kind"] for entry in entries}
    requests = {
        "floor": [(PATHS["floor"], b"", "127.0.0.1")],
        "validate": agent_calls(PATHS["validate"], every_kind),
        "activate": agent_calls(PATHS["activate"], every_kind - {"temporary"}),  # a temporary key never binds
    }
    application = WSGIHandler()
    failed = []

    status: list[str] = []

    def start_response(code, headers, exc_info=None):
        status.append(code)

    def run(which: str, times: int, start: int = 0) -> None:
        cycle = requests[which]
        for number in range(start, start + times):
            path, body, ip = cycle[number % len(cycle)]
            result = application(_environ(path, body, ip), start_response)
            b"".join(result)
            result.close()
            if not status.pop().startswith("200"):
                failed.append(path)

    warmed = {which: max(WARM, len(requests[which])) for which in PATHS}
    for which in PATHS:
        run(which, warmed[which])
    # A full collection of the warm process's heap costs tens of millions of instructions, and
    # whether one falls inside the counted calls is chance: the counted calls collect only what
    # they allocate.
    gc.collect()
    gc.freeze()
    if profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.runcall(run, name, count, warmed[name])
        pstats.Stats(profiler).sort_stats("tottime").print_stats(45)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(90)
    else:
        run(name, count, warmed[name])
    if failed:
        raise SystemExit(f"{len(failed)} requests were not answered 200, e.g. one to {failed[0]}")


def counted(keys: int, name: str, count: int) -> int:
    """The instructions of one ``--inner`` run under callgrind."""
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", PYTHON, str(Path(__file__).resolve())]
    command += ["--inner", name, "--count", str(count), "--keys", str(keys)]
    environment = {**_stretched(bench_environment(keys)), "PYTHONHASHSEED": "0"}  # the same dicts every run
    environment["CACHE_KEY_PREFIX"] = _emptied(f"{environment['CACHE_KEY_PREFIX']}-count-{name}-{count}")
    done = subprocess.run(command, capture_output=True, text=True, env=environment, cwd=PROJECT_DIR)
    match = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or not match:
        raise SystemExit(f"valgrind run failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return int(match.group(1))


def _stretched(environment: dict[str, str]) -> dict[str, str]:
    """Work a worker does once a second or once a minute of wall time (the verdict cache's check
    for pending renewals, the "last seen" flush, a new database connection when the kept one is
    ``CONN_MAX_AGE`` old) would run on nearly every call under callgrind, which runs the process
    some fifty times slower, and how often it ran would depend on how busy the machine was: the
    count stretches those periods to an hour or more, so that it counts the calls' own work. What
    the periodic work costs a fleet is in the throughput cells (``bench/fleet.py``)."""
    return {
        **environment,
        "LICENSE_STATE_CACHE_RECHECK_SECONDS": "3600",
        "MACHINE_SEEN_WRITE_SECONDS": "3600",
        "CONN_MAX_AGE": "86400",
    }


def _emptied(prefix: str) -> str:
    """``prefix``, its Redis keys deleted: each counted run has a Redis of its own that starts empty.

    Runs go two at a time, and the "last seen" flush is taken by one process per window (stretched
    to an hour): sharing one prefix, whichever run took it would write what every run had queued,
    and a window taken by an earlier run would hold what that one left. Empty and its own, a run's
    first call takes the flush (nothing queued yet) and none of its counted calls does."""
    from redis import Redis

    from bench.environment import REDIS_URL

    client = Redis.from_url(REDIS_URL)
    names = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    for start in range(0, len(names), 1000):
        client.delete(*names[start : start + 1000])
    client.close()
    return prefix


def valgrind_installed() -> None:
    if shutil.which("valgrind"):
        return
    print("valgrind is missing: installing Debian's valgrind (apt-get install -y valgrind) ...", file=sys.stderr)
    subprocess.run(["apt-get", "install", "-y", "valgrind"], check=True, stdout=subprocess.DEVNULL)


def markdown(report: dict) -> str:
    lines = [
        f"Counted {report['measured_at']} at commit `{report['commit']}`, {report['keys']:,} keys "
        f"({report['database']}): callgrind, the portal's WSGI application in one process, "
        f"{report['requests']} requests per path after a warm-up of each (an agent path's: once through"
        f" its {CALLS} keys).",
        "",
        "| request | instructions | × floor | floor ÷ it |",
        "| --- | ---: | ---: | ---: |",
    ]
    floor = report["per_request"]["floor"]
    for name, value in report["per_request"].items():
        lines.append(f"| {name} (`{PATHS[name]}`) | {value:,} | {value / floor:.2f} | {floor / value:.0%} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=1_000_000, help="the seeded size (default 1,000,000)")
    parser.add_argument("--requests", type=int, default=400, help="requests counted per path (default 400)")
    parser.add_argument("--inner", choices=list(PATHS), help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--profile", choices=list(PATHS), help="where one path's time goes (cProfile)")
    options = parser.parse_args(argv)
    if options.inner:
        serve(options.keys, options.inner, options.count)
        return
    if options.profile:
        import os

        from bench.seed import seed

        seed(options.keys)
        os.environ.update(_stretched(bench_environment(options.keys)))
        serve(options.keys, options.profile, options.requests * 10, profile=True)
        return
    valgrind_installed()
    from bench.seed import seed

    seed(options.keys)  # seeded once here, not by two runs at once
    runs = [(name, count) for name in PATHS for count in (BASE, BASE + options.requests)]
    with ThreadPoolExecutor(max_workers=2) as pool:  # one valgrind per core
        totals = dict(zip(runs, pool.map(lambda run: counted(options.keys, *run), runs), strict=True))
    per_request = {
        name: round((totals[name, BASE + options.requests] - totals[name, BASE]) / options.requests) for name in PATHS
    }
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=PROJECT_DIR)
    report = {
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit.stdout.strip(),
        "keys": options.keys,
        "database": database_name(options.keys),
        "requests": options.requests,
        "per_request": per_request,
        "totals": {f"{name}@{count}": total for (name, count), total in totals.items()},
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "instructions.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS_DIR / "instructions.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()

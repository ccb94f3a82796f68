"""Measure one database size: seed (or reuse) it, serve it with gunicorn, drive it with wrk.

Called by ``bench/run.py`` once per size (each size is its own database, so its own process);
writes ``bench/results/raw/bench_<keys>.json``.

The agent API keeps each key's verdict rows in Redis (``licenses/agent_api/state_cache.py``) for an hour,
and agents call every few minutes: in production nearly every call finds its key cached. So before
the measured cells every key of the sample is sent once (``warm_cache``), and the ``validate`` and
``activate`` cells measure that steady state; one cell (``validate_cold``) measures the other end,
every call a miss.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.environment import (
    PROJECT_DIR,
    PYTHON,
    RAW_DIR,
    database_name,
    django_setup,
    state_dir,
)
from bench.sample import WARM_THREADS, cached_keys, sample_machines, touch, warm_cache
from bench.seed import ADMIN_USERNAME, seed
from bench.serving import CpuMeter, Portal, combined, cpu_per_request, http_get, http_post, wrk_run

STALE_RUN_SECONDS = 3
ROUNDS = 6  # the floor, validate and activate take turns in this many rounds per concurrency


# Query counts (in this process, through Django's test client) --------------------------------------


def measure_queries(entries: list[dict], list_pages: dict[str, str], touch) -> dict:
    """SQL queries (and writes) per request of each kind, run through the whole Django stack here.

    This process has the portal's Redis, so the agent calls use the verdict cache: ``validate`` and
    ``activate`` are counted on a warm cache (each key called once before), ``validate_cold`` just
    after a clear (every call a miss), ``validate_stale`` a miss with the "last seen" write due.
    """
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from licenses.agent_api import state_cache
    from organizations.models import User

    client = Client(HTTP_HOST="127.0.0.1", HTTP_X_FORWARDED_PROTO="https")

    def count(method, path, **kwargs) -> tuple[int, int, float, object]:
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = method(path, **kwargs)
            elapsed = time.perf_counter() - started
        writes = sum(
            1 for query in captured.captured_queries if re.match(r"\s*(INSERT|UPDATE|DELETE)", query["sql"], re.I)
        )
        return len(captured), writes, elapsed, response

    def agent_calls(endpoint: str, sample: list[dict]) -> dict:
        per_kind: dict[str, list] = {}
        codes: dict[str, int] = {}
        for entry in sample:
            body = json.dumps({"license_key": entry["key"], "fingerprint": entry["fingerprint"]})
            queries, writes, elapsed, response = count(
                client.post,
                f"/api/v1/{endpoint}",
                data=body,
                content_type="application/json",
                HTTP_X_FORWARDED_FOR=entry["ip"],
            )
            code = response.json().get("code", str(response.status_code))
            codes[code] = codes.get(code, 0) + 1
            per_kind.setdefault(entry["kind"], []).append((queries, writes, elapsed))
        return summarise(per_kind, codes)

    sample = by_kind(entries, 50)
    touch(fresh=True)
    agent_calls("validate", sample)  # each key read once and cached
    results = {"validate": agent_calls("validate", sample)}
    state_cache.clear()
    results["validate_cold"] = agent_calls("validate", sample)
    touch(fresh=False)  # clears the cache too
    results["validate_stale"] = agent_calls("validate", sample)
    reactivated = [entry for entry in sample if entry["kind"] != "temporary"]
    agent_calls("validate", reactivated)  # cached again (the stale pass stored what it read): no read, no write
    results["activate"] = agent_calls("activate", reactivated)
    runs = [count(client.get, "/healthz") for _ in range(50)]
    results["floor"] = summarise({"healthz": runs}, {"200": sum(r[3].status_code == 200 for r in runs)})

    client.force_login(User.objects.get(username=ADMIN_USERNAME))
    for name, path in list(list_pages.items()):
        try:
            status = client.get(path).status_code
        except Exception as error:  # a page under construction: leave it out, and say so
            status = f"{type(error).__name__}: {error}"
        if status != 200:
            print(f"  leaving out {name} {path}: it answered {status}", file=sys.stderr)
            results.setdefault("left_out", {})[name] = f"{path} answered {status}"
            del list_pages[name]
            continue
        runs = [count(client.get, path) for _ in range(30)]
        statuses: dict[str, int] = {}
        for run in runs:
            statuses[str(run[3].status_code)] = statuses.get(str(run[3].status_code), 0) + 1
        results[name] = summarise({"page": runs}, statuses)
    return results


def by_kind(entries: list[dict], per_kind: int) -> list[dict]:
    chosen: dict[str, list] = {}
    for entry in entries:
        if len(chosen.setdefault(entry["kind"], [])) < per_kind:
            chosen[entry["kind"]].append(entry)
    return [entry for group in chosen.values() for entry in group]


def summarise(per_kind: dict[str, list], codes: dict[str, int]) -> dict:
    every = [run for runs in per_kind.values() for run in runs]
    times = sorted(run[2] * 1000 for run in every)
    return {
        "queries_max": max(run[0] for run in every),
        "queries_mean": round(statistics.mean(run[0] for run in every), 2),
        "writes_mean": round(statistics.mean(run[1] for run in every), 2),
        "by_kind": {
            kind: {
                "queries_max": max(run[0] for run in runs),
                "queries_mean": round(statistics.mean(run[0] for run in runs), 2),
                "writes_mean": round(statistics.mean(run[1] for run in runs), 2),
            }
            for kind, runs in per_kind.items()
        },
        "in_process_ms": {
            "p50": round(times[len(times) // 2], 2),
            "p95": round(times[min(len(times) - 1, int(len(times) * 0.95))], 2),
        },
        "answers": codes,
    }


# One size ------------------------------------------------------------------------------------------


def list_pages_available() -> dict[str, str]:
    """The largest list pages that exist: the licenses tab of the largest organization, and the
    Django admin's list of every key."""
    from django.urls import NoReverseMatch, reverse

    pages = {}
    try:
        pages["list_page"] = reverse("license_list", args=["big-customer"]) + "?kind=machine"
    except NoReverseMatch:
        pass
    try:
        pages["admin_list"] = reverse("admin:licenses_licensekey_changelist")
    except NoReverseMatch:
        pass
    return pages


def measure(
    keys: int,
    *,
    concurrencies: list[int],
    seconds: float,
    instances: int,
    workers: int,
    base_port: int,
    sample: int,
) -> dict:
    seeded = seed(keys, sample=sample)
    keys = seeded["keys"]
    entries = [json.loads(line) for line in Path(seeded["keys_file"]).read_text().splitlines()]
    out_dir = RAW_DIR / database_name(keys)
    out_dir.mkdir(parents=True, exist_ok=True)

    from django.core.management import call_command
    from django.db import connection

    call_command("collectstatic", "--no-input", verbosity=0)

    requests_file = out_dir / "requests.tsv"
    with requests_file.open("w") as handle:
        for number, entry in enumerate(entries):
            body = {"license_key": entry["key"], "fingerprint": entry["fingerprint"], "nonce": f"bench-{number}"}
            handle.write(f"{entry['ip']}\t{json.dumps(body, separators=(',', ':'))}\n")
    machine_ids, uids = sample_machines(entries)
    activate_entries = [entry for entry in entries if entry["kind"] != "temporary"]
    activate_file = out_dir / "requests-activate.tsv"
    with activate_file.open("w") as handle:
        for number, entry in enumerate(activate_entries):
            body = {"license_key": entry["key"], "fingerprint": entry["fingerprint"], "nonce": f"bench-{number}"}
            handle.write(f"{entry['ip']}\t{json.dumps(body, separators=(',', ':'))}\n")

    from licenses.agent_api import state_cache

    def touch_sample(*, fresh: bool) -> None:
        touch(machine_ids, uids, fresh=fresh)

    list_pages = list_pages_available()
    queries = measure_queries(entries, list_pages, touch_sample)
    from django.test import Client

    from organizations.models import User

    login = Client(HTTP_HOST="127.0.0.1", HTTP_X_FORWARDED_PROTO="https")
    login.force_login(User.objects.get(username=ADMIN_USERNAME))
    cookie = f"sessionid={login.cookies['sessionid'].value}"
    connection.close()

    portal = Portal(
        keys, instances=instances, workers=max(1, workers // instances), base_port=base_port, log_dir=out_dir
    )
    runs: list[dict] = []
    try:
        portal.start()
        meter = CpuMeter(portal)
        check = sanity_check(portal, entries, list_pages, cookie)
        endpoints = [
            ("floor", "/healthz", None),
            ("validate", "/api/v1/validate", requests_file),
            ("activate", "/api/v1/activate", activate_file),
            *[(name, path, None) for name, path in list_pages.items()],
        ]
        for name, path, file in endpoints:  # warm every worker up once
            if name == "validate":
                touch_sample(fresh=True)
            wrk_run(portal, path=path, requests_file=file, connections=workers, seconds=2, cookie=cookie)
            portal.drain()

        def one_run(name: str, path: str, file: Path | None, connections: int, seconds: float) -> dict:
            before = meter.snapshot()
            run = wrk_run(
                portal, path=path, requests_file=file, connections=connections, seconds=seconds, cookie=cookie
            )
            run["cpu_seconds"] = {part: after - before[part] for part, after in meter.snapshot().items()}
            run["drained_seconds"] = portal.drain()
            return {"endpoint": name, **run}

        def measured(name: str, path: str, file: Path | None, connections: int, seconds: float) -> dict:
            run = one_run(name, path, file, connections, seconds)
            run["cpu_us_per_request"] = cpu_per_request([run])
            del run["cpu_seconds"]
            return report(run)

        def report(run: dict) -> dict:
            runs.append(run)
            print(
                f"  {keys:>9,} keys  c={run['connections']:<3} {run['endpoint']:<14}"
                f" {run['requests_per_second']:>8,.0f} req/s"
                f"  p50 {run['latency_ms']['p50']:.2f} ms  p99 {run['latency_ms']['p99']:.2f} ms",
                file=sys.stderr,
            )
            return run

        # The steady state: every key of the sample cached (entries live an hour; agents call every
        # few minutes), and no "last seen" write due.
        touch_sample(fresh=True)
        connection.close()
        warmed = warm_cache(portal.ports, requests_file)
        cache = {
            **cached_keys(entries),
            "sample": len(entries),
            "warm_seconds": warmed["seconds"],
            "warm_answers": warmed["answers"],
        }
        connection.close()
        print(
            f"  {keys:>9,} keys  verdict cache warmed: {cache['warmed_keys']:,} of {len(entries):,} sample keys"
            f" cached, in {warmed['seconds']:.1f} s ({WARM_THREADS} threads; answers {warmed['answers']})",
            file=sys.stderr,
        )
        agent_endpoints = [endpoint for endpoint in endpoints if endpoint[0] in ("floor", "validate", "activate")]
        for connections in concurrencies:
            # The floor and the agent calls take turns in short rounds, each round starting with the
            # next of them, so that the machine's drift (a shared VM's neighbours, PostgreSQL's
            # background work) and any effect of going first fall on each of them alike.
            rounds: dict[str, list[dict]] = {name: [] for name, _path, _file in agent_endpoints}
            for number in range(ROUNDS):
                touch_sample(fresh=True)  # no write due; the cache is left as it is
                connection.close()
                shift = number % len(agent_endpoints)
                for name, path, file in agent_endpoints[shift:] + agent_endpoints[:shift]:
                    rounds[name].append(one_run(name, path, file, connections, seconds / ROUNDS))
            for parts in rounds.values():
                report(combined(parts))
            for name, path, file in endpoints:
                if name not in rounds:
                    measured(name, path, file, connections, seconds)
        middle = concurrencies[len(concurrencies) // 2]
        # Every call a miss: the key read from PostgreSQL and stored in Redis, no write due.
        touch_sample(fresh=True)
        state_cache.clear()
        connection.close()
        cold = measured("validate_cold", "/api/v1/validate", requests_file, middle, seconds)
        cold["wrapped"] = cold["requests"] > len(entries)  # then some calls found their key cached
        # Every call a miss and its machine's "last seen" write due (the last cell: nothing after
        # it needs the cache warm).
        touch_sample(fresh=False)
        connection.close()
        stale = measured("validate_stale", "/api/v1/validate", requests_file, middle, STALE_RUN_SECONDS)
        stale["wrapped"] = stale["requests"] > len(entries)
        memory = portal.workers_memory()
    finally:
        portal.stop()

    return {
        "keys": keys,
        "database": database_name(keys),
        "seed": seeded,
        "sample_keys": len(entries),
        "instances": instances,
        "workers_per_instance": portal.workers,
        "gunicorn": " ".join(portal.command(portal.ports[0])[1:]),
        "list_pages": list_pages,
        "sanity": check,
        "cache": cache,
        "queries": queries,
        "runs": runs,
        "workers_memory": memory,
    }


def compare_latency(sizes: list[int], *, rounds: int, seconds: float, workers: int, base_port: int) -> dict:
    """``validate`` at one connection on every size in turn, ``rounds`` times, all sizes served at once.

    Latency measured minutes apart drifts with whatever else the machine does (the floor itself
    moves by a third between two sizes' runs on a shared VM); alternating the sizes in short rounds
    exposes them to the same conditions, and the median round compares them.

    As in the main runs, every size's verdict cache is warm (one pass over its sample first) and no
    "last seen" write is due. Django serves one size per process, so each size's machines are
    marked as seen by a short process of its own (``--touch``).
    """
    requests_files = {keys: RAW_DIR / database_name(keys) / "requests.tsv" for keys in sizes}  # by measure()

    def mark_seen(keys: int, *, warm_port: int = 0) -> dict:
        """Seen just now, so the heartbeats write nothing; with ``warm_port``, then warm the cache."""
        command = [PYTHON, str(Path(__file__).resolve()), "--touch", str(keys)]
        if warm_port:
            command += ["--warm-port", str(warm_port)]
        done = subprocess.run(command, cwd=PROJECT_DIR, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"touching {database_name(keys)} failed: {done.stdout}\n{done.stderr}")
        return json.loads(done.stdout.strip().splitlines()[-1])

    portals = []
    caches: dict[int, dict] = {}
    rounds_run: dict[int, list[dict]] = {keys: [] for keys in sizes}
    try:
        for number, keys in enumerate(sizes):
            portal = Portal(
                keys,
                instances=1,
                workers=workers,
                base_port=base_port + 10 * number,
                log_dir=RAW_DIR / database_name(keys),
            )
            portals.append(portal)
            portal.start()
        for keys, portal in zip(sizes, portals, strict=True):
            caches[keys] = mark_seen(keys, warm_port=portal.ports[0])
            print(
                f"  {keys:>9,} keys  verdict cache warmed: {caches[keys]['warmed_keys']:,} of"
                f" {caches[keys]['sample']:,} sample keys cached, in {caches[keys]['warm_seconds']:.1f} s",
                file=sys.stderr,
            )
            wrk_run(portal, path="/api/v1/validate", requests_file=requests_files[keys], connections=1, seconds=2)
        for _ in range(rounds):
            for keys, portal in zip(sizes, portals, strict=True):
                mark_seen(keys)
                run = wrk_run(
                    portal, path="/api/v1/validate", requests_file=requests_files[keys], connections=1, seconds=seconds
                )
                rounds_run[keys].append(run["latency_ms"])
                print(
                    f"  {keys:>9,} keys  c=1   validate (interleaved)  p50 {run['latency_ms']['p50']:.2f} ms",
                    file=sys.stderr,
                )
    finally:
        for portal in portals:
            portal.stop()
    return {
        "rounds": rounds,
        "seconds": seconds,
        "sizes": {
            str(keys): {
                "median_ms": {
                    percentile: round(statistics.median(run[percentile] for run in runs), 2)
                    for percentile in ("p50", "p95", "p99")
                },
                "rounds_ms": runs,
                "cache": caches.get(keys),
            }
            for keys, runs in rounds_run.items()
        },
    }


def sanity_check(portal: Portal, entries: list[dict], list_pages: dict[str, str], cookie: str) -> dict:
    """Over real HTTP, before the load: every endpoint answers what it should (never a redirect or 429)."""
    answers: dict[str, dict[str, int]] = {}
    for port in portal.ports:
        base = f"http://127.0.0.1:{port}"
        for entry in by_kind(entries, 5):
            body = json.dumps({"license_key": entry["key"], "fingerprint": entry["fingerprint"]}).encode()
            endpoints = ["validate"] if entry["kind"] == "temporary" else ["validate", "activate"]
            for endpoint in endpoints:
                status, verdict = http_post(f"{base}/api/v1/{endpoint}", body, entry["ip"])
                code, key = verdict.get("code", str(status)), f"{endpoint} {entry['kind']}"
                answers.setdefault(key, {})
                answers[key][code] = answers[key].get(code, 0) + 1
                if verdict.get("code") != "VALID":
                    raise SystemExit(f"{endpoint} of a seeded {entry['kind']} key answered {verdict}")
        for name, path in list_pages.items():
            status, _ = http_get(base + path, {"Cookie": cookie})
            if status != 200:
                raise SystemExit(f"{name} {path} answered {status}")
    return answers


def touch_size(keys: int, warm_port: int) -> dict:
    """``--touch``: mark this size's sample machines as just seen; with ``warm_port``, then warm
    the verdict cache of the portal serving it there (for ``compare_latency``)."""
    django_setup(keys)
    entries = [json.loads(line) for line in (state_dir(keys) / "keys.jsonl").read_text().splitlines()]
    touch(*sample_machines(entries), fresh=True)
    if not warm_port:
        return {"touched": len(entries)}
    from django.db import connection

    connection.close()
    warmed = warm_cache([warm_port], RAW_DIR / database_name(keys) / "requests.tsv")
    return {
        **cached_keys(entries),
        "sample": len(entries),
        "warm_seconds": warmed["seconds"],
        "warm_answers": warmed["answers"],
    }


def main(argv: list[str] | None = None) -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop the servers on the way out
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=0)
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--instances", type=int, default=1)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--port", type=int, default=8101)
    parser.add_argument("--sample", type=int, default=20_000)
    parser.add_argument(
        "--compare-latency", default="", help="sizes to compare validate's latency on, e.g. 10000,1000000"
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--touch", type=int, default=0, help="mark this size's sample machines as just seen")
    parser.add_argument("--warm-port", type=int, default=0, help="with --touch: then warm the cache through this port")
    options = parser.parse_args(argv)
    if options.touch:
        print(json.dumps(touch_size(options.touch, options.warm_port)))
        return
    if options.compare_latency:
        sizes = [int(value) for value in options.compare_latency.split(",")]
        comparison = compare_latency(
            sizes, rounds=options.rounds, seconds=options.seconds, workers=options.workers, base_port=options.port
        )
        path = RAW_DIR / "latency.json"
        path.write_text(json.dumps(comparison, indent=2))
        print(path)
        return
    result = measure(
        options.keys,
        concurrencies=[int(value) for value in options.concurrency.split(",")],
        seconds=options.seconds,
        instances=options.instances,
        workers=options.workers,
        base_port=options.port,
        sample=options.sample,
    )
    path = RAW_DIR / f"{result['database']}.json"
    path.write_text(json.dumps(result, indent=2, default=str))
    print(path)


if __name__ == "__main__":
    main()

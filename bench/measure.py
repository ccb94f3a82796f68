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
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.environment import (
    BENCH_DIR,
    PROJECT_DIR,
    PYTHON,
    RAW_DIR,
    bench_environment,
    database_name,
    django_setup,
    state_dir,
)
from bench.seed import ADMIN_USERNAME, seed

LUA = BENCH_DIR / "wrk" / "portal.lua"
GUNICORN = str(Path(PYTHON).parent / "gunicorn")
STALE_RUN_SECONDS = 3
WARM_THREADS = 8
ROUNDS = 6  # the floor, validate and activate take turns in this many rounds per concurrency


# The server ----------------------------------------------------------------------------------------


class Portal:
    """One or more gunicorn instances as the README's production section runs them."""

    def __init__(self, keys: int, *, instances: int, workers: int, base_port: int, log_dir: Path):
        self.keys, self.instances, self.workers = keys, instances, workers
        self.ports = [base_port + number for number in range(instances)]
        self.log_dir = log_dir
        self.processes: list[subprocess.Popen] = []

    def command(self, port: int) -> list[str]:
        return [
            GUNICORN,
            "licensing_portal.wsgi",
            "--workers",
            str(self.workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--max-requests",
            "10000",
            "--max-requests-jitter",
            "1000",
            "--backlog",
            "2048",
        ]

    def start(self) -> None:
        environment = bench_environment(self.keys)
        for port in self.ports:
            log = (self.log_dir / f"gunicorn-{port}.log").open("w")
            self.processes.append(
                subprocess.Popen(self.command(port), cwd=PROJECT_DIR, env=environment, stdout=log, stderr=log)
            )
        deadline = time.monotonic() + 60
        for port in self.ports:
            while True:
                try:
                    if http_get(f"http://127.0.0.1:{port}/healthz")[0] == 200:
                        break
                except (urllib.error.URLError, ConnectionError, OSError):
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit(f"gunicorn on port {port} did not answer /healthz; see {self.log_dir}")
                time.sleep(0.2)

    def drain(self, limit: float = 300) -> float:
        """Wait until every instance answers /healthz at once again, and return how long that took.

        wrk stops by closing its connections, but the requests already queued in gunicorn's backlog
        are still served (a slow list page at 32 connections leaves seconds of work): without this
        wait, that work would be measured against the next endpoint.
        """
        started = time.monotonic()
        for port in self.ports:
            quick = 0
            while quick < 3 and time.monotonic() - started < limit:
                sent = time.monotonic()
                try:
                    http_get(f"http://127.0.0.1:{port}/healthz")
                except OSError:
                    time.sleep(0.1)
                quick = quick + 1 if time.monotonic() - sent < 0.05 else 0
        time.sleep(0.5)
        return round(time.monotonic() - started, 1)

    def workers_memory(self) -> list[dict]:
        """VmRSS and VmHWM (peak) of every gunicorn worker, in MiB."""
        masters = {process.pid for process in self.processes}
        found = []
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                text = status.read_text()
            except OSError:
                continue
            fields = dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)
            if int(fields.get("PPid", "0")) in masters:
                found.append(
                    {
                        "pid": int(fields["Pid"]),
                        "rss_mib": round(int(fields["VmRSS"].split()[0]) / 1024, 1),
                        "peak_rss_mib": round(int(fields["VmHWM"].split()[0]) / 1024, 1),
                    }
                )
        return found

    def stop(self) -> None:
        for process in self.processes:
            process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def http_get(url: str, headers: dict | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"X-Forwarded-Proto": "https", **(headers or {})})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.read()


def http_post(url: str, body: bytes, ip: str) -> tuple[int, dict]:
    request = urllib.request.Request(
        url,
        data=body,
        headers={"Content-Type": "application/json", "X-Forwarded-Proto": "https", "X-Forwarded-For": ip},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


# Where the CPU goes -----------------------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds spent by each part of the system during a measurement, from /proc.

    On a machine where every part shares the same cores, throughput is what one request costs all
    of them together: the gunicorn workers (with the ones recycled during the run), PostgreSQL (its
    backends and the exited ones), Redis and the load generator (wrk, a child of this process). The
    kernel's work for each (loopback TCP included) is in its share.
    """

    def __init__(self, portal: Portal):
        self.portal = portal

    @staticmethod
    def _processes():
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                text = stat.read_text()
            except OSError:
                continue
            name = text[text.index("(") + 1 : text.rindex(")")]
            fields = text[text.rindex(")") + 2 :].split()
            yield int(stat.parent.name), name, int(fields[1]), [int(value) for value in fields[11:15]]

    def snapshot(self) -> dict[str, float]:
        masters = {process.pid for process in self.portal.processes}
        parts = {"workers": 0, "postgres": 0, "redis": 0}
        for pid, name, parent, (utime, stime, cutime, cstime) in self._processes():
            if pid in masters:  # the workers that exited (recycled) are the masters' waited-for children
                parts["workers"] += cutime + cstime
            elif parent in masters:
                parts["workers"] += utime + stime
            elif name.startswith("postgres"):
                parts["postgres"] += utime + stime + cutime + cstime
            elif name.startswith("redis-server"):
                parts["redis"] += utime + stime
        snapshot = {part: ticks / CLOCK_TICKS for part, ticks in parts.items()}
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        snapshot["wrk"] = children.ru_utime + children.ru_stime
        return snapshot

    @staticmethod
    def per_request(before: dict, after: dict, requests: int) -> dict[str, int]:
        """Microseconds of CPU per request, by part, and their sum."""
        used = {part: (after[part] - before[part]) * 1e6 / max(1, requests) for part in after}
        used["all"] = sum(used.values())
        return {part: round(value) for part, value in used.items()}


# The load ------------------------------------------------------------------------------------------


def wrk_installed() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk is missing: installing Debian's wrk (apt-get install -y wrk) ...", file=sys.stderr)
    subprocess.run(["apt-get", "install", "-y", "wrk"], check=False, stdout=subprocess.DEVNULL)
    if not shutil.which("wrk"):
        subprocess.run(["apt-get", "update"], check=False, stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, stdout=subprocess.DEVNULL)
    return shutil.which("wrk") or "wrk"


def wrk_run(
    portal: Portal, *, path: str, requests_file: Path | None, connections: int, seconds: float, cookie: str = ""
) -> dict:
    threads = max(1, min(portal.instances, connections))
    command = [
        wrk_installed(),
        f"-t{threads}",
        f"-c{max(connections, threads)}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(LUA),
        f"http://127.0.0.1:{portal.ports[0]}",
        "--",
        path,
        str(requests_file) if requests_file else "",
    ]
    environment = {**os.environ, "BENCH_PORTS": ",".join(map(str, portal.ports)), "BENCH_COOKIE": cookie}
    result = subprocess.run(command, capture_output=True, text=True, env=environment, check=False)
    match = re.search(r"^BENCH_JSON (.*)$", result.stdout, re.MULTILINE)
    if result.returncode != 0 or not match:
        raise SystemExit(f"wrk failed ({result.returncode}): {result.stdout}\n{result.stderr}")
    data = json.loads(match.group(1))
    seconds_run = data["duration_us"] / 1e6
    errors = sum(data[name] for name in data if name.startswith("errors_"))
    return {
        "connections": connections,
        "threads": threads,
        "seconds": round(seconds_run, 2),
        "requests": data["requests"],
        "requests_per_second": round(data["requests"] / seconds_run, 1),
        "errors": errors,
        "non_2xx_3xx": data["errors_status"],
        "latency_ms": {name: round(value / 1000, 2) for name, value in data["latency_us"].items()},
    }


# The machines' "last seen", and the verdict cache ---------------------------------------------------


def cpu_per_request(runs: list[dict]) -> dict[str, int]:
    """Microseconds of CPU per request, by part, over runs that each hold their ``cpu_seconds``."""
    used = {part: sum(run["cpu_seconds"][part] for run in runs) for part in runs[0]["cpu_seconds"]}
    return CpuMeter.per_request(dict.fromkeys(used, 0.0), used, sum(run["requests"] for run in runs))


def combined(parts: list[dict]) -> dict:
    """One endpoint's rounds as one run: requests and CPU summed, each latency percentile the median
    of the rounds'; ``rounds`` keeps each round's throughput."""
    requests = sum(part["requests"] for part in parts)
    seconds = sum(part["seconds"] for part in parts)
    return {
        "endpoint": parts[0]["endpoint"],
        "connections": parts[0]["connections"],
        "threads": parts[0]["threads"],
        "seconds": round(seconds, 2),
        "requests": requests,
        "requests_per_second": round(requests / seconds, 1),
        "errors": sum(part["errors"] for part in parts),
        "non_2xx_3xx": sum(part["non_2xx_3xx"] for part in parts),
        "latency_ms": {
            name: statistics.median(part["latency_ms"][name] for part in parts) for name in parts[0]["latency_ms"]
        },
        "cpu_us_per_request": cpu_per_request(parts),
        "drained_seconds": round(sum(part["drained_seconds"] for part in parts), 2),
        "rounds": [part["requests_per_second"] for part in parts],
    }


def fingerprint_uid(fingerprint: dict) -> str:
    from environments.fingerprint import fingerprint_parse

    return fingerprint_parse(fingerprint).uid


def sample_machines(entries: list[dict]) -> tuple[list[int], list[str]]:
    """The database ids and the UIDs of the machines the sample's agents run on."""
    machine_ids = sorted({entry["machine_id"] for entry in entries})
    uids = sorted({fingerprint_uid(entry["fingerprint"]) for entry in entries})
    return machine_ids, uids


def touch(machine_ids: list[int], uids: list[str], *, fresh: bool) -> None:
    """Leave the sample's machines as they are (``fresh``) or mark them seen two minutes ago.

    With Redis every VALID call records "last seen" in Redis and a flush writes the rows in batches
    (``licenses/agent_api/seen.py``), so no call writes its machine's row whatever its age; two
    minutes ago writes the rows and clears the verdict cache, whose rows would otherwise still hold
    a fresher time (what the cells that start from a cold cache measure).
    """
    from django.db import connection

    from licenses.agent_api import state_cache

    del uids  # "last seen" is no longer kept per machine outside the batch
    if fresh:
        return
    at = datetime.now(UTC) - timedelta(minutes=2)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE environments_machine SET last_seen_at = %s WHERE id = ANY(%s)", [at, machine_ids])
    state_cache.clear()


def warm_cache(ports: list[int], requests_file: Path, *, threads: int = WARM_THREADS) -> dict:
    """Send every request of ``requests_file`` to ``validate`` once (``threads`` at a time, spread
    over the instances), so that the verdict cache holds every key of the sample."""
    lines = [line.split("\t", 1) for line in requests_file.read_text().splitlines() if "\t" in line]

    def post(numbered: tuple[int, list[str]]) -> str:
        number, (ip, body) = numbered
        url = f"http://127.0.0.1:{ports[number % len(ports)]}/api/v1/validate"
        try:
            status, verdict = http_post(url, body.encode(), ip)
        except urllib.error.HTTPError as error:
            return f"HTTP {error.code}"
        except OSError as error:
            return type(error).__name__
        return verdict.get("code", str(status))

    started = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        answers = Counter(pool.map(post, enumerate(lines)))
    return {"requests": len(lines), "seconds": round(time.monotonic() - started, 1), "answers": dict(answers)}


def cached_keys(entries: list[dict]) -> dict:
    """How many keys of the sample the verdict cache holds under the current generations (a
    temporary key counts only if its machine's entry is current too)."""
    from licenses import keyformat
    from licenses.agent_api import state_cache

    calls = []
    for entry in entries:
        key = keyformat.key_parse(entry["key"])
        calls.append(
            (keyformat.key_digest(key.text), key.organization_id, fingerprint_uid(entry["fingerprint"]), key.kind)
        )
    return {"warmed_keys": state_cache.cached_count(calls)}


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

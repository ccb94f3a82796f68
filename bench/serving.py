"""The portal as the benchmarks serve and load it: gunicorn instances (``Portal``), wrk driving them
(``wrk_run``), and what each part of the machine spends per request (``CpuMeter``)."""

from __future__ import annotations

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
from pathlib import Path

from bench.environment import BENCH_DIR, PROJECT_DIR, PYTHON, bench_environment

LUA = BENCH_DIR / "wrk" / "portal.lua"
GUNICORN = str(Path(PYTHON).parent / "gunicorn")


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

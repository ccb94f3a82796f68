"""The benchmark's verdicts on the issue's targets, from a run's saved results (no server needed)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from bench import run

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results" / "latest.json"


def _list_rows(main: dict) -> list[dict]:
    return [row for row in run.targets(main, None, None, 4) if "bounded queries" in row["target"]]


def test_list_pages_are_judged_on_server_time_at_one_connection_only():
    """With one connection a list page's latency is its server time; with eight on two cores it
    also holds the queue, so a run without a one-connection cell gives no verdict on it."""
    main = json.loads(RESULTS.read_text())["sizes"][-1]
    for cell in main["runs"]:
        if cell["endpoint"] in ("list_page", "admin_list"):
            cell["latency_ms"]["p95"] = 50 if cell["connections"] == 1 else 450  # queued behind the others
    assert [row["holds"] for row in _list_rows(main)] == [True, True]
    slow = copy.deepcopy(main)
    for cell in slow["runs"]:
        if cell["endpoint"] == "admin_list" and cell["connections"] == 1:
            cell["latency_ms"]["p95"] = 250
    assert [row["holds"] for row in _list_rows(slow)] == [True, False]
    loaded_only = copy.deepcopy(main)
    loaded_only["runs"] = [cell for cell in main["runs"] if cell["connections"] > 1]
    rows = _list_rows(loaded_only)
    assert [row["holds"] for row in rows] == [None, None]
    assert all("judged at c=1" in row["measured"] for row in rows)

"""Read dbt's run_results.json and manifest.json: which nodes ran, how they ended, the graph; and
say so in the task log: the plan before a try, the summary after it."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

# Statuses after which a node still has to be (re-)built.
UNFINISHED = frozenset({"error", "fail", "skipped", "runtime error"})
FAILED = frozenset({"error", "fail", "runtime error"})
MESSAGE_LIMIT = 300
PLAN_LIMIT = 20  # node names shown in a log line
DUCKDB_LOCKED = "Could not set lock on file"
DUCKDB_LOCKED_HINT = (
    "Another process holds the DuckDB file open: DuckDB allows one writer per file. Give tasks that run "
    "at the same time their own files (a connection each), or put them in an Airflow pool with one slot."
)


@dataclass(frozen=True)
class NodeResult:
    unique_id: str
    status: str
    execution_time: float
    message: str | None


def node_results(run_results: bytes | str) -> list[NodeResult]:
    """The nodes of one dbt invocation, in the order dbt reported them."""
    return [
        NodeResult(r["unique_id"], r["status"], r.get("execution_time") or 0.0, r.get("message"))
        for r in json.loads(run_results)["results"]
    ]


def checked_node_results(run_results: bytes | str) -> list[NodeResult]:
    """Like node_results, but raise ValueError (saying why) for results a retry cannot trust:
    unreadable, truncated, empty, or written by another dbt minor version than the installed one."""
    try:
        document = json.loads(run_results)
        results = node_results(run_results)
    except (ValueError, KeyError, TypeError) as error:
        reason = f"{type(error).__name__}: {error}"
        raise ValueError(f"it is not a readable run_results.json ({reason})") from error
    written_by = str(document.get("metadata", {}).get("dbt_version", "unknown"))
    installed = version("dbt-core")
    if written_by.split(".")[:2] != installed.split(".")[:2]:
        raise ValueError(f"it was written by dbt {written_by}, and dbt {installed} is installed")
    return results


def parse_is_for(partial_parse: bytes, project_root: Path) -> bool:
    """True when dbt's partial parse (`partial_parse.msgpack`) was made in `project_root`.

    dbt records the project's absolute path in it (msgpack keeps strings as they are), and uses
    those paths on the next run without checking them.
    """
    import msgpack

    return msgpack.packb(str(project_root)) in partial_parse


def counts_by_status(results: Iterable[NodeResult]) -> dict[str, int]:
    return dict(sorted(Counter(r.status for r in results).items()))


def unfinished(results: Iterable[NodeResult]) -> list[NodeResult]:
    """Nodes that errored, failed or were skipped: what a retry has to build."""
    return [r for r in results if r.status in UNFINISHED]


def descendants(manifest: bytes | str, unique_ids: Iterable[str]) -> set[str]:
    """`unique_ids` and every node downstream of them (tests included), from the manifest."""
    child_map: dict[str, list[str]] = json.loads(manifest)["child_map"]
    seen: set[str] = set()
    todo = list(unique_ids)
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(child_map.get(node, []))
    return seen


def summary(
    results: list[NodeResult] | None, try_number: int, previous: list[NodeResult] | None = None, dbt_log: str = ""
) -> dict[str, Any]:
    """A small, JSON-serialisable account of one try, for XCom and alerts (no SQL, no secrets).

    `results` is None when dbt wrote no run_results.json (it stopped first, or the command ran no
    dbt that writes one). `not_rerun` lists the nodes the previous try left unfinished that this
    try did not run. `dbt_log` is the end of dbt's log file: dbt stops before running any node when
    it cannot open the database, so some causes are found only there.
    """
    ran = results is not None
    results = results or []
    not_rerun = sorted({r.unique_id for r in unfinished(previous or [])} - {r.unique_id for r in results})
    failed = [
        {"unique_id": r.unique_id, "status": r.status, "message": (r.message or "")[:MESSAGE_LIMIT]}
        for r in results
        if r.status in FAILED
    ]
    report = {
        "try_number": try_number,
        "retry": previous is not None,
        "ran": ran,
        "nodes": len(results),
        "counts": counts_by_status(results),
        "failed": failed,
        "slowest": [
            {"unique_id": r.unique_id, "seconds": round(r.execution_time, 2)}
            for r in sorted(results, key=lambda r: r.execution_time, reverse=True)[:5]
        ],
        "not_rerun": not_rerun if ran else [],
    }
    if DUCKDB_LOCKED in dbt_log or any(DUCKDB_LOCKED in f["message"] for f in failed):
        report["hint"] = DUCKDB_LOCKED_HINT
    return report


def dbt_stopped_on(dbt_log: Path) -> str | None:
    """The error dbt stopped on before running nodes, from its log file, e.g.
    "Compilation Error: Model 'model.shop.x' depends on a node named 'y' which was not found"."""
    if not dbt_log.is_file():
        return None
    lines = dbt_log.read_bytes()[-200_000:].decode(errors="replace").splitlines()
    for index in range(len(lines) - 1, -1, -1):
        if lines[index].rstrip().endswith("Encountered an error:"):
            detail = [line.strip() for line in lines[index + 1 : index + 3] if line.strip()]
            return ": ".join(detail)[:MESSAGE_LIMIT] or None
    return None


def _names(unique_ids: list[str]) -> str:
    more = f" and {len(unique_ids) - PLAN_LIMIT} more" if len(unique_ids) > PLAN_LIMIT else ""
    return ", ".join(unique_ids[:PLAN_LIMIT]) + more


def plan_lines(try_number: int, previous: list[NodeResult] | None) -> list[str]:
    """What to log before dbt starts: a first try, or a retry and what is left to do."""
    if previous is None:
        return [f"Try {try_number}: no earlier results to retry from; running the full command"]
    lines = [f"Try {try_number} is a retry. The previous try ended {counts_by_status(previous)}."]
    todo = [r.unique_id for r in unfinished(previous)]
    if todo:
        lines.append(f"{len(todo)} nodes did not succeed and are to be re-run: {_names(todo)}")
    else:
        lines.append("Nothing to re-run: every node of the previous try succeeded; nothing is rebuilt")
    return lines


def report_lines(report: dict[str, Any]) -> list[tuple[int, str]]:
    """What to log after dbt ends, as (logging level, line): counts, failures, hint, slowest nodes."""
    lines = [(logging.INFO, f"dbt ran {report['nodes']} nodes: {report['counts']}")]
    lines += [(logging.ERROR, f"{f['status']} {f['unique_id']}: {f['message']}") for f in report["failed"]]
    if "hint" in report:
        lines.append((logging.ERROR, report["hint"]))
    slowest = ", ".join(f"{n['unique_id']} {n['seconds']}s" for n in report["slowest"])
    lines.append((logging.INFO, f"Slowest: {slowest or 'none'}"))
    if report["not_rerun"]:
        lines.append(
            (
                logging.WARNING,
                f"{len(report['not_rerun'])} nodes that did not succeed on the previous try were not run by "
                f"this retry, so their tables may be missing or stale: {_names(report['not_rerun'])}. The "
                "command's selection misses them; retry_command() in orchestrate.utils.datacoves_utils selects them.",
            )
        )
    return lines

"""Read dbt's run_results.json and manifest.json: which nodes ran, how they ended, the graph."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

# Statuses after which a node still has to be (re-)built.
UNFINISHED = frozenset({"error", "fail", "skipped", "runtime error"})
FAILED = frozenset({"error", "fail", "runtime error"})
MESSAGE_LIMIT = 300


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


def summary(results: list[NodeResult], try_number: int, previous: list[NodeResult] | None = None) -> dict[str, Any]:
    """A small, JSON-serialisable account of one try, for XCom and alerts (no SQL, no secrets)."""
    succeeded = {r.unique_id for r in results if r.status not in UNFINISHED}
    not_rerun = sorted({r.unique_id for r in unfinished(previous or [])} - succeeded)
    return {
        "try_number": try_number,
        "retry": previous is not None,
        "nodes": len(results),
        "counts": counts_by_status(results),
        "failed": [
            {"unique_id": r.unique_id, "status": r.status, "message": (r.message or "")[:MESSAGE_LIMIT]}
            for r in results
            if r.status in FAILED
        ],
        "slowest": [
            {"unique_id": r.unique_id, "seconds": round(r.execution_time, 2)}
            for r in sorted(results, key=lambda r: r.execution_time, reverse=True)[:5]
        ],
        "not_rerun": not_rerun,
    }

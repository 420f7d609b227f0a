"""Read dbt's run_results.json and manifest.json: which nodes ran, how they ended, the graph."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass


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


def counts_by_status(results: Iterable[NodeResult]) -> dict[str, int]:
    return dict(sorted(Counter(r.status for r in results).items()))


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

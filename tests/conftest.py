"""Tries of the operator through its public `execute()`, without Airflow's task runner.

The task context is a plain dict here, holding the few keys a try reads (a fake at the boundary);
tests/integration runs the same operator through Airflow itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib.metadata import version
from types import SimpleNamespace
from typing import Any

import pytest

from orchestrate.dbt_api import DbtApiStore, TaskKey

DAG_ID = "dag"
RUN_ID = "manual__2026-01-01T00:00:00+00:00"


@pytest.fixture
def store(tmp_path, monkeypatch) -> DbtApiStore:
    """An empty dbt API store, the one tries use (DATACOVES__DBT_API_URL)."""
    root = tmp_path / "dbt_api"
    monkeypatch.setenv("DATACOVES__DBT_API_URL", str(root))
    return DbtApiStore(str(root))


@pytest.fixture
def run_results() -> Callable[..., bytes]:
    """Make a run_results.json of the installed dbt from (unique_id, status) pairs."""

    def make(*nodes: tuple[str, str]) -> bytes:
        results = [{"unique_id": uid, "status": s, "execution_time": 0.1, "message": None} for uid, s in nodes]
        return json.dumps({"metadata": {"dbt_version": version("dbt-core")}, "results": results}).encode()

    return make


@pytest.fixture
def earlier_try(store, tmp_path) -> Callable[..., TaskKey]:
    """Store files as an earlier try of an operator run by `run_try`; return the operator's key."""

    def store_try(operator, try_number: int, files: dict[str, bytes]) -> TaskKey:
        folder = tmp_path / f"earlier-{operator.task_id}-{try_number}"
        folder.mkdir(exist_ok=True)
        for name, content in files.items():
            (folder / name).write_bytes(content)
        key = TaskKey(DAG_ID, RUN_ID, operator.task_id)
        store.upload(key, try_number, [folder / name for name in files])
        return key

    return store_try


@pytest.fixture
def run_try() -> Callable[..., Any]:
    """Run one try of an operator: render its templated fields, then execute it."""

    def run(operator, try_number: int = 1, **context: Any) -> Any:
        ti = SimpleNamespace(
            dag_id=DAG_ID, task_id=operator.task_id, run_id=RUN_ID, try_number=try_number, map_index=-1
        )
        context = {"ti": ti, "task_instance": ti, "run_id": RUN_ID, "task": operator, "params": {}, **context}
        operator.render_template_fields(context)
        return operator.execute(context)

    return run

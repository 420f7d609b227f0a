"""Fixtures of the test suite: a migrated metadata DB, the DAGs, and DAG runs with real Airflow
(dag.test()), real dbt and a real DuckDB file. The session's environment is set in the
repository's conftest.py.

A DAG run takes seconds to tens of seconds, so each scenario runs once per module and several
tests read its outcome.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from orchestrate.config import REPO_ROOT
from orchestrate.dbt_api import DbtApiStore, TaskKey
from orchestrate.dbt_results import NodeResult, node_results


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated SQLite metadata DB (dag.test() needs a real, file-backed one)."""
    from airflow.utils.db import upgradedb

    Path(os.environ["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    upgradedb()  # what `airflow db migrate` runs
    return Path(os.environ["AIRFLOW_HOME"]) / "airflow.db"


@pytest.fixture(scope="session")
def dagbag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    assert not bag.import_errors
    return bag


@dataclass
class TaskRun:
    """What one dbt task did in one DAG run, read back from Airflow and the dbt API store."""

    state: str
    try_number: int
    tries: dict[int, list[NodeResult]]
    manifest: bytes | None
    xcom: Any  # the task's return value: the summary of its last try
    key: TaskKey  # where its tries are in the dbt API store


@dataclass
class DagRunner:
    """Runs DAGs against its own warehouse file and dbt API store."""

    dagbag: object
    warehouse: Path
    store: DbtApiStore
    monkeypatch: pytest.MonkeyPatch

    def run(
        self,
        dag: Any,
        before_retry: Callable[..., None] | None = None,
        conf: dict[str, Any] | None = None,
        **env: str,
    ) -> tuple[str, dict[str, TaskRun]]:
        """Run a DAG (or the DAG of that id) with dag.test() and no retry delay, under `env`; read back each task.

        `before_retry` runs as each task's on_retry_callback, between a failed try and the next.
        """
        dag = self.dagbag.get_dag(dag) if isinstance(dag, str) else dag
        for task in dag.tasks:
            task.retry_delay = timedelta(0)
            task.on_retry_callback = [before_retry] if before_retry else []
        with self.monkeypatch.context() as patch:
            for name, value in env.items():
                patch.setenv(name, value)
            dag_run = dag.test(run_conf=conf)
        return dag_run.state, {ti.task_id: self._task_run(dag_run, ti) for ti in dag_run.get_task_instances()}

    def mart_rows_and_landed_rows(self) -> dict[str, tuple[int, int]]:
        """Rows of each mart that has one row per raw record, and rows of that raw CSV."""
        import duckdb

        data = REPO_ROOT / "transform" / "data"
        with duckdb.connect(str(self.warehouse), read_only=True) as db:
            return {
                mart: (
                    db.execute(f"select count(*) from {mart}").fetchone()[0],
                    db.execute(f"select count(*) from read_csv('{data}/{raw}.csv')").fetchone()[0],
                )
                for mart, raw in [("orders", "raw_orders"), ("product_sales", "raw_products")]
            }

    def _task_run(self, dag_run, ti) -> TaskRun:
        key = TaskKey(dag_run.dag_id, dag_run.run_id, ti.task_id, ti.map_index)
        tries = {n: node_results(self.store.read_bytes(key, n, "run_results.json")) for n in self.store.tries(key)}
        manifest = self.store.read_bytes(key, max(tries), "manifest.json") if tries else None
        return TaskRun(ti.state, ti.try_number, tries, manifest, self._return_value(ti), key)

    @staticmethod
    def _return_value(ti) -> Any:
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session

        with create_session() as session:
            query = XComModel.get_many(run_id=ti.run_id, key="return_value", task_ids=ti.task_id, dag_ids=ti.dag_id)
            rows = session.scalars(query).all()
            return XComModel.deserialize_value(rows[0]) if rows else None


@pytest.fixture(scope="module")
def dag_runner(dagbag, tmp_path_factory) -> Iterator[DagRunner]:
    """A fresh DuckDB file behind the `warehouse` connection and an empty dbt API store."""
    root = tmp_path_factory.mktemp("dag_runner")
    warehouse = root / "warehouse.duckdb"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_CONN_WAREHOUSE", json.dumps({"conn_type": "duckdb", "host": str(warehouse)}))
        patch.setenv("DATACOVES__DBT_API_URL", str(root / "dbt_api"))
        yield DagRunner(dagbag, warehouse, DbtApiStore(str(root / "dbt_api")), patch)

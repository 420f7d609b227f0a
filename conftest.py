"""Every test session runs against its own Airflow home, warehouse, dbt API store and temp folder;
and the fixtures every test folder shares: a migrated metadata DB, the DAGs, DAG runs.

The environment is set here, before anything imports Airflow: a developer's own `.local/` (used
by `make demo`) is never touched, and two sessions on one machine (two clones, or two runs of
one) never see each other's files. Scratch folders of dbt tries live in the session's temp
folder too, so a try's clean-up of killed tries sees only this session's.

The session's folder is removed when every test passed, and kept (its path printed) otherwise.

A DAG run takes seconds to tens of seconds, so each scenario runs once per module (`dag_runner`)
and several tests read its outcome.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

# Nothing that imports Airflow may be imported above the environment below: Airflow reads its
# home and DAGs folder once, on import.
from orchestrate import local_env, manifest
from orchestrate.config import CONNECTION_ID, REPO_ROOT

if TYPE_CHECKING:
    from orchestrate.dbt_api import DbtApiStore, TaskKey
    from orchestrate.dbt_results import NodeResult

# The DAGs that dag.test() can run: it serializes them from Airflow's DAGs folder first (a
# conftest.py below may link more into DAGS_FOLDER, before its tests run).
DAG_SOURCES = [REPO_ROOT / "dags", REPO_ROOT / "tests" / "integration" / "dags"]

STATE_DIR = Path(tempfile.mkdtemp(prefix="dbt-retry-template-tests-"))
SESSION_TMP = STATE_DIR / "tmp"
SESSION_TMP.mkdir()
DAGS_FOLDER = STATE_DIR / "dags"
DAGS_FOLDER.mkdir()
for dag_file in [path for source in DAG_SOURCES for path in source.glob("*.py")]:
    (DAGS_FOLDER / dag_file.name).symlink_to(dag_file)
os.environ.update(local_env.environment(STATE_DIR))
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS_FOLDER)
os.environ["TMPDIR"] = str(SESSION_TMP)
tempfile.tempdir = str(SESSION_TMP)
for name in ("DBT_FORCE_FAILURE", "DATACOVES__AIRFLOW_TYPE", "DATACOVES__ENVIRONMENT_SLUG"):
    os.environ.pop(name, None)
# dags/cosmos_dbt_build.py is drawn from dbt's manifest: `dbt parse`, when a project file changed.
manifest.ensure()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if exitstatus == 0:
        shutil.rmtree(STATE_DIR, ignore_errors=True)
    else:
        print(f"\nThe session's Airflow home, warehouse, store and temp folder are kept in {STATE_DIR}")


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
    errors: dict[int, BaseException]  # the error each failed try ended with, by try number


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
        errors: dict[str, dict[int, BaseException]] = {task_id: {} for task_id in dag.task_ids}

        def record_error(context: dict[str, Any]) -> None:
            ti = context["ti"]
            errors[ti.task_id][ti.try_number] = context.get("exception")

        for task in dag.tasks:
            task.retry_delay = timedelta(0)
            task.on_retry_callback = [record_error, *([before_retry] if before_retry else [])]
            task.on_failure_callback = [record_error]
        with self.monkeypatch.context() as patch:
            for name, value in env.items():
                patch.setenv(name, value)
            dag_run = dag.test(run_conf=conf)
        tasks = {ti.task_id: self._task_run(dag_run, ti, errors[ti.task_id]) for ti in dag_run.get_task_instances()}
        return dag_run.state, tasks

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

    def _task_run(self, dag_run, ti, errors: dict[int, BaseException]) -> TaskRun:
        from orchestrate.dbt_api import TaskKey
        from orchestrate.dbt_results import node_results

        key = TaskKey(dag_run.dag_id, dag_run.run_id, ti.task_id, ti.map_index)
        tries = {
            n: node_results(self.store.read_bytes(key, n, "run_results.json"))
            for n in self.store.tries(key)
            if (self.store.try_path(key, n) / "run_results.json").exists()
        }
        stored = self.store.tries(key)
        manifest = self.store.read_bytes(key, max(stored), "manifest.json") if stored else None
        return TaskRun(ti.state, ti.try_number, tries, manifest, self._return_value(ti), key, errors)

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
    """A fresh DuckDB file behind the project's connection (CONNECTION_ID) and an empty dbt API store."""
    from orchestrate.dbt_api import DbtApiStore

    root = tmp_path_factory.mktemp("dag_runner")
    warehouse = root / "warehouse.duckdb"
    connection = {"conn_type": "duckdb", "host": str(warehouse)}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(f"AIRFLOW_CONN_{CONNECTION_ID.upper()}", json.dumps(connection))
        patch.setenv("DATACOVES__DBT_API_URL", str(root / "dbt_api"))
        yield DagRunner(dagbag, warehouse, DbtApiStore(str(root / "dbt_api")), patch)

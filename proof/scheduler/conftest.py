"""A real Airflow 3.3 on loopback, for tests that run DAGs the way production does.

`airflow_server` (one per test session) starts the local Airflow of `make airflow`
(orchestrate.local_airflow: API server, scheduler, DAG processor and triggerer, each a process of
this environment's `airflow` CLI in its own process group, all on 127.0.0.1). Everything they
write lives in a temporary folder (kept by pytest after the session):

    <root>/airflow/                 AIRFLOW_HOME: airflow.db (SQLite), logs/, config/
    <root>/airflow/dags/            links to dags/*.py and proof/scheduler/dags/*.py
    <root>/airflow/process_logs/    stdout and stderr of each component
    <root>/warehouse.duckdb         the `warehouse` connection (the example DAGs)
    <root>/warehouses/              `warehouse_a`/`warehouse_b`: one file per DAG run and task
    <root>/dbt_api/                 the dbt API store

The environment of every process is built here from scratch (`orchestrate.local_env` plus the
overrides below); nothing is inherited from this process except what a process needs to run at all.
The root conftest sets `os.environ` for the dag.test() tests, and none of it reaches this Airflow.

When a test that uses the fixture fails, its report gets the tail of each component's output and
of the newest task logs (proof/conftest.py).
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from orchestrate import local_airflow, local_env
from orchestrate.config import REPO_ROOT
from orchestrate.dbt_api import DbtApiStore
from proof.airflow_processes import START_TIMEOUT, AirflowRest, link_dags, log_tails

HERE = Path(__file__).resolve().parent
DAG_SOURCES = (REPO_ROOT / "dags", HERE / "dags")
CLUSTER_POLICY = HERE / "cluster_policy.py"

# The model the example DAG fails on its first try (transform/macros/force_failure.sql).
FORCED_FAILURE = "int_order_items_priced"
# Rendered by dbt when it reads profiles.yml: each DAG run gets its own DuckDB file, because
# DuckDB allows one writer process per file and runs of one DAG go on at the same time.
PER_RUN = "{{ env_var('AIRFLOW_CTX_DAG_RUN_ID') }}"

# Taken from this process's environment: what any process needs, nothing Airflow or dbt reads.
PASSTHROUGH = ("HOME", "LANG", "LC_ALL", "PATH", "TMPDIR", "TZ", "USER")
# Task slots of the LocalExecutor: more than any test runs at once (4 runs x 2 tasks).
PARALLELISM = 10

# A password no file, log or API answer of this Airflow may contain (proof/scheduler/test_secrets.py).
CANARY = f"canary-{secrets.token_hex(8)}"


def duckdb_connection(path: str | Path) -> str:
    """An Airflow connection (JSON, for an AIRFLOW_CONN_* variable) to a DuckDB file, with a canary password."""
    return json.dumps({"conn_type": "duckdb", "host": str(path), "password": CANARY})


@pytest.fixture(scope="session")
def canary() -> str:
    """The password in every connection of the test Airflow."""
    return CANARY


@dataclass(repr=False)
class AirflowServer(AirflowRest):
    """A running Airflow: its processes, its REST API (as an admin), and the places its state lives."""

    airflow: local_airflow.LocalAirflow
    root: Path
    store: DbtApiStore
    forced_failure: str  # the model DBT_FORCE_FAILURE names for the example DAGs

    def __repr__(self) -> str:
        return f"AirflowServer({self.url}, home={self.home})"

    @property
    def url(self) -> str:
        return self.airflow.url

    @property
    def home(self) -> Path:
        return self.airflow.home

    # --- the processes (orchestrate.local_airflow) ------------------------------------------

    def check_running(self) -> None:
        self.airflow.check_running()

    def our_processes(self) -> list[psutil.Process]:
        return self.airflow.processes()

    def diagnostics(self) -> str:
        """The tail of each component's output and of the newest task logs, for a failure report."""
        return log_tails(self.home, self.airflow.components)

    def stop(self) -> list[str]:
        if self.api is not None:
            self.api.close()
        return self.airflow.stop()


def airflow_environment(root: Path, api_port: int, log_server_port: int) -> dict[str, str]:
    """The environment of every Airflow process of the test Airflow rooted at `root`."""
    env = {name: os.environ[name] for name in PASSTHROUGH if name in os.environ}
    # The CLI and dbt of this environment first; the operator adds dbt's folder for tasks too.
    env["PATH"] = os.pathsep.join([str(local_airflow.AIRFLOW.parent), env.get("PATH", "/usr/bin:/bin")])
    env.update(local_env.environment(root))
    home = Path(env["AIRFLOW_HOME"])
    env.update(local_airflow.server_settings(api_port, log_server_port))
    env.update(
        {
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW_CONN_WAREHOUSE": duckdb_connection(root / "warehouse.duckdb"),
            "AIRFLOW_CONN_WAREHOUSE_A": duckdb_connection(root / "warehouses" / f"{PER_RUN}-a.duckdb"),
            "AIRFLOW_CONN_WAREHOUSE_B": duckdb_connection(root / "warehouses" / f"{PER_RUN}-b.duckdb"),
            "DATACOVES__DBT_API_URL": str(root / "dbt_api"),
            # The example DAG fails on each task's first try; the scheduler's task processes inherit it.
            "DBT_FORCE_FAILURE": FORCED_FAILURE,
            # The scheduler signs the tokens of task processes and the API server checks them: they
            # must share the secret (and it must not be a fixed one written in the repository).
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            # LocalExecutor (the default, on SQLite too, in 3.3) with a slot for every task a test
            # runs at once, so they really run at the same time.
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            # A try whose process was killed is failed once its heartbeat is this old (default 300 s).
            # Seen under load: the LocalExecutor reported a killed try with a stale try number, the
            # scheduler ignored it, and only the heartbeat timeout let the next try start.
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
            "AIRFLOW__CORE__PARALLELISM": str(PARALLELISM),
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(PARALLELISM),
        }
    )
    return env


@pytest.fixture(scope="session")
def airflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowServer]:
    """A real Airflow (API server, scheduler, DAG processor, triggerer) on 127.0.0.1, ready to run the DAGs.

    The example DAG fails `FORCED_FAILURE` on each task's first try (DBT_FORCE_FAILURE, which the
    scheduler's task processes inherit). Retries of the example DAGs do not wait (see
    cluster_policy.py). Every process is stopped afterwards, dbt included.
    """
    started = time.monotonic()
    root = tmp_path_factory.mktemp("airflow_server")
    api_port, log_server_port = local_airflow.free_ports(2)
    env = airflow_environment(root, api_port, log_server_port)
    home = Path(env["AIRFLOW_HOME"])
    (home / "config").mkdir(parents=True)
    (home / "config" / "airflow_local_settings.py").symlink_to(CLUSTER_POLICY)
    (root / "warehouses").mkdir()
    link_dags(home / "dags", DAG_SOURCES)

    server = AirflowServer(
        airflow=local_airflow.LocalAirflow(env),
        root=root,
        store=DbtApiStore(env["DATACOVES__DBT_API_URL"]),
        forced_failure=FORCED_FAILURE,
    )
    try:
        server.airflow.start(START_TIMEOUT)
        server.connect()
        server.wait_until_parsed(home / "dags")
    except Exception as error:
        # Say why with the components' output (the kept home has the rest), and leave nothing running.
        server.stop()
        raise RuntimeError(f"Airflow did not start: {error}\n{server.diagnostics()}") from error
    print(f"Airflow up in {time.monotonic() - started:.1f} s at {server.url}; home {home}")
    try:
        yield server
    finally:
        survivors = server.stop()
        assert not survivors, f"processes survived SIGKILL: {survivors}"

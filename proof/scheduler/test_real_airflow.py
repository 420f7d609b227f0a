"""DAG runs through a real Airflow: triggered over the REST API, scheduled, retried by the scheduler.

What dag.test() cannot show: the scheduler's own retry (a new task process, a new working copy,
the previous try's results fetched from the dbt API store), and several tries going on at once in
separate processes without seeing each other's results.

Expected node sets come from each try's stored manifest and run_results, as in
tests/integration/test_retry_dbt_failures.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from orchestrate.dbt_api import TaskKey
from orchestrate.dbt_results import NodeResult, descendants, node_results

pytestmark = pytest.mark.scheduler

EXAMPLE_DAG = "retry_dbt_failures"
PARALLEL_DAG = "parallel_dbt_tasks"  # proof/scheduler/dags/parallel_dbt_tasks.py
# One conf per parallel run: each task of each run fails its own model on its first try, so each
# retry has a different set of nodes to re-run, and reading any other try's results would show.
PARALLEL_FAILURES = [
    {"fail_a": "stg_customers", "fail_b": "stg_orders"},
    {"fail_a": "stg_payments", "fail_b": "stg_products"},
    {"fail_a": "int_order_items_priced", "fail_b": "int_order_payments"},
    {"fail_a": "customers", "fail_b": "orders"},
]
PARALLEL_TASKS = {"dbt_build_a": "fail_a", "dbt_build_b": "fail_b"}
# Bounds, not expectations: a run takes ~40 s alone and the parallel runs ~2 minutes on 2 cores.
EXAMPLE_TIMEOUT = 240
PARALLEL_TIMEOUT = 480


@dataclass
class DbtTask:
    """One dbt task of one DAG run: what Airflow reports and what each of its tries stored."""

    state: str | None
    try_number: int
    tries: dict[int, Any]  # try number -> airflow_api.TaskTry, the REST API's account of each try
    results: dict[int, list[NodeResult]]  # try number -> that try's run_results.json
    manifest: bytes  # the last try's manifest.json

    def nodes(self, try_number: int, *statuses: str) -> set[str]:
        """The unique_ids a try ran, optionally only those that ended in one of `statuses`."""
        return {r.unique_id for r in self.results[try_number] if not statuses or r.status in statuses}


def read_task(server, dag_id: str, run_id: str, task_id: str) -> DbtTask:
    """Read one task back: its state and tries from the REST API, its tries' files from the store."""
    task = server.task_instances(dag_id, run_id)[task_id]
    key = TaskKey(dag_id, run_id, task_id)
    results = {n: node_results(server.store.read_bytes(key, n, "run_results.json")) for n in server.store.tries(key)}
    manifest = server.store.read_bytes(key, max(results), "manifest.json") if results else b""
    return DbtTask(task.state, task.try_number, server.tries(dag_id, run_id, task_id), results, manifest)


@dataclass
class Run:
    """One DAG run: its id, final state, the conf it was triggered with and its dbt tasks."""

    run_id: str
    state: str
    conf: dict[str, str]
    tasks: dict[str, DbtTask]


@pytest.fixture(scope="module")
def example_run(airflow_server) -> Run:
    """One run of the example DAG, whose first try fails in the model the fixture forces to fail."""
    run_id = airflow_server.trigger(EXAMPLE_DAG)
    state = airflow_server.wait(EXAMPLE_DAG, run_id, timeout=EXAMPLE_TIMEOUT)
    return Run(run_id, state, {}, {"dbt_build": read_task(airflow_server, EXAMPLE_DAG, run_id, "dbt_build")})


@pytest.fixture(scope="module")
def parallel_runs(airflow_server) -> list[Run]:
    """Four runs of the two-task test DAG, triggered together, each failing its own models once."""
    run_ids = [airflow_server.trigger(PARALLEL_DAG, conf=conf) for conf in PARALLEL_FAILURES]
    states = [airflow_server.wait(PARALLEL_DAG, run_id, timeout=PARALLEL_TIMEOUT) for run_id in run_ids]
    return [
        Run(run_id, state, conf, {t: read_task(airflow_server, PARALLEL_DAG, run_id, t) for t in PARALLEL_TASKS})
        for run_id, state, conf in zip(run_ids, states, PARALLEL_FAILURES, strict=True)
    ]


def test_example_dag_fails_once_and_the_schedulers_retry_ends_green(example_run):
    dbt_build = example_run.tasks["dbt_build"]

    assert example_run.state == "success"
    assert (dbt_build.state, dbt_build.try_number) == ("success", 2)
    assert {n: t.state for n, t in dbt_build.tries.items()} == {1: "failed", 2: "success"}
    assert sorted(dbt_build.results) == [1, 2]


def test_example_retry_reruns_exactly_the_errored_nodes_and_their_descendants(example_run, airflow_server):
    dbt_build = example_run.tasks["dbt_build"]
    errored = dbt_build.nodes(1, "error")

    assert errored == {f"model.shop.{airflow_server.forced_failure}"}
    assert dbt_build.nodes(2) == descendants(dbt_build.manifest, errored)
    assert dbt_build.nodes(2, "success", "pass") == dbt_build.nodes(2)


def test_four_parallel_runs_of_two_dbt_tasks_all_end_green_on_the_second_try(parallel_runs):
    for run in parallel_runs:
        assert run.state == "success", run.run_id
        assert {t: (task.state, task.try_number) for t, task in run.tasks.items()} == {
            task_id: ("success", 2) for task_id in PARALLEL_TASKS
        }, run.run_id


def test_every_retry_reruns_only_what_its_own_first_try_failed(parallel_runs):
    retried = []
    for run in parallel_runs:
        for task_id, param in PARALLEL_TASKS.items():
            task = run.tasks[task_id]
            errored = task.nodes(1, "error")

            assert errored == {f"model.shop.{run.conf[param]}"}, (run.run_id, task_id)
            assert task.nodes(2) == descendants(task.manifest, errored), (run.run_id, task_id)
            retried.append(frozenset(task.nodes(2)))

    # Every retry had a different set to re-run, so one that read another try's results fails above.
    assert len(set(retried)) == len(PARALLEL_FAILURES) * len(PARALLEL_TASKS)


def test_all_first_tries_of_the_parallel_runs_ran_at_the_same_time(parallel_runs):
    first_tries = [task.tries[1] for run in parallel_runs for task in run.tasks.values()]

    # An instant when all eight were running: the last one to start started before the first one ended.
    assert max(t.start_date for t in first_tries) < min(t.end_date for t in first_tries)


def test_each_task_of_each_parallel_run_wrote_its_own_warehouse_file(parallel_runs, airflow_server):
    written = {path.name for path in (airflow_server.root / "warehouses").glob("*.duckdb")}

    assert written == {f"{run.run_id}-{suffix}.duckdb" for run in parallel_runs for suffix in ("a", "b")}

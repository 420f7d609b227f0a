"""Asset-scheduled DAGs under a real scheduler: dags/orders_mart_consumer.py runs each time a dbt task
builds the orders mart, whether a first try built it or the retry that rebuilt it.

dag.test() records asset events but never starts the DAGs scheduled on them: only the scheduler
does, hence this tier. The producer runs go one after the other, so each consumer run can be traced
to the producer run whose event started it (GET .../upstreamAssetEvents).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest

from orchestrate.airflow_api import poll
from orchestrate.dbt_api import TaskKey
from orchestrate.dbt_results import node_results

pytestmark = pytest.mark.scheduler

CONSUMER = "orders_mart_consumer"
EXAMPLE_DAG = "retry_dbt_failures"  # fails the fixture's forced failure on try 1, below the orders mart
FIRST_TRY_DAG = "build_orders_mart"  # proof/scheduler/dags: fails only what its conf names
RUN_TIMEOUT = 240
CONSUMER_TIMEOUT = 120


def orders_uri(server, dag_id: str, run_id: str) -> str:
    """The URI of the orders mart as the producer's last try built it, from its stored manifest."""
    key = TaskKey(dag_id, run_id, "dbt_build")
    last_try = max(server.store.tries(key))
    node = json.loads(server.store.read_bytes(key, last_try, "manifest.json"))["nodes"]["model.shop.orders"]
    return f"x-duckdb://{node['database']}/{node['schema']}/{node['alias']}"


def orders_built_on(server, dag_id: str, run_id: str) -> list[int]:
    """The tries of the producer run whose run_results have the orders mart built."""
    key = TaskKey(dag_id, run_id, "dbt_build")
    return [
        n
        for n in server.store.tries(key)
        for r in node_results(server.store.read_bytes(key, n, "run_results.json"))
        if r.unique_id == "model.shop.orders" and r.status == "success"
    ]


def consumer_runs_started_by(server, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    """The consumer's finished runs, each with the asset events that started it, that `run_id` started.

    Only finished runs are asked for their events: Airflow 3.3 answers 500 for a run not yet started
    (its start_date, which the answer must hold, is still empty).
    """
    runs = server.call("GET", f"/api/v2/dags/{CONSUMER}/dagRuns", params={"limit": 100})["dag_runs"]
    started = []
    for run in runs:
        if run["state"] not in ("success", "failed"):
            continue
        path = f"/api/v2/dags/{CONSUMER}/dagRuns/{quote(run['dag_run_id'], safe='')}/upstreamAssetEvents"
        events = server.call("GET", path)["asset_events"]
        if any(e["source_dag_id"] == dag_id and e["source_run_id"] == run_id for e in events):
            started.append({**run, "events": events})
    return started


def produce_and_consume(server, dag_id: str, conf: dict[str, str] | None = None) -> tuple[str, list[dict[str, Any]]]:
    """Run a producer of the orders mart; return its run id and the consumer runs it started."""
    run_id = server.trigger(dag_id, conf=conf)
    assert server.wait(dag_id, run_id, timeout=RUN_TIMEOUT) == "success"
    consumer_runs = poll(
        lambda: consumer_runs_started_by(server, dag_id, run_id),
        CONSUMER_TIMEOUT,
        f"a finished run of {CONSUMER} started by {dag_id} {run_id}",
        check=server.check_running,
    )
    return run_id, consumer_runs


@pytest.fixture(scope="module")
def consumer_unpaused(airflow_server) -> None:
    airflow_server.call("PATCH", f"/api/v2/dags/{CONSUMER}", json={"is_paused": False})


def test_a_first_try_that_builds_the_orders_mart_starts_the_consumer(airflow_server, consumer_unpaused):
    run_id, consumer_runs = produce_and_consume(airflow_server, FIRST_TRY_DAG, conf={"fail": ""})

    assert orders_built_on(airflow_server, FIRST_TRY_DAG, run_id) == [1]
    assert [run["state"] for run in consumer_runs] == ["success"]
    (event,) = [e for e in consumer_runs[0]["events"] if e["source_run_id"] == run_id]
    assert (event["uri"], event["source_task_id"], event["extra"]["try_number"]) == (
        orders_uri(airflow_server, FIRST_TRY_DAG, run_id),
        "dbt_build",
        1,
    )


def test_the_retry_that_rebuilds_the_orders_mart_starts_the_consumer(airflow_server, consumer_unpaused):
    run_id, consumer_runs = produce_and_consume(airflow_server, EXAMPLE_DAG)

    # Try 1 failed below the mart (it built nothing that Airflow records); try 2 rebuilt it.
    assert orders_built_on(airflow_server, EXAMPLE_DAG, run_id) == [2]
    assert [run["state"] for run in consumer_runs] == ["success"]
    (event,) = [e for e in consumer_runs[0]["events"] if e["source_run_id"] == run_id]
    assert (event["uri"], event["source_task_id"], event["extra"]["try_number"]) == (
        orders_uri(airflow_server, EXAMPLE_DAG, run_id),
        "dbt_build",
        2,
    )

"""The example DAG on Celery workers that share nothing but the dbt API on S3, building into Postgres.

Try 1 runs on worker-1 and fails in the model the workers force to fail; the scheduler sends the
retry to worker-2 (try_routing_executor.py), which has never seen try 1's files: it downloads try
1's results from S3 and re-runs exactly the failed subtree, computed here from the manifest and
try 1's results as stored.
"""

from __future__ import annotations

import pytest

from orchestrate.dbt_results import descendants

pytestmark = pytest.mark.cluster

DAG_ID = "retry_dbt_failures"  # dags/retry_dbt_failures.py, unchanged; conftest.py `example_run` runs it
TASK_ID = "dbt_build"


def test_try_1_fails_on_one_worker_and_the_retry_succeeds_on_the_other(example_run):
    state, tries = example_run.state, example_run.tries

    assert state == "success"
    assert {n: (t.state, t.hostname) for n, t in tries.items()} == {
        1: ("failed", "worker-1"),
        2: ("success", "worker-2"),
    }


def test_the_retry_reruns_exactly_the_failed_subtree_of_try_1(example_run, airflow_cluster):
    stored, manifest = example_run.stored, example_run.manifest
    errored = {r.unique_id for r in stored[1] if r.status == "error"}

    assert errored == {f"model.shop.{airflow_cluster.forced_failure}"}
    assert {r.unique_id for r in stored[2]} == descendants(manifest, errored)
    assert {r.status for r in stored[2]} <= {"success", "pass"}


def test_the_retry_starts_from_what_s3_holds_and_nothing_on_the_first_workers_disk(example_run, airflow_cluster):
    run_id = example_run.run_id

    log = "\n".join(airflow_cluster.wait_for_task_log(DAG_ID, run_id, TASK_ID, 2, "into logs/"))

    assert "downloaded ['run_results.json'] from try 1 into logs/" in log
    # dbt's partial parse holds the paths of worker-1's temp folder: on worker-2, dbt parses afresh.
    assert "the stored partial parse is for another folder" in log
    assert "is a folder on this machine" not in log  # the store is S3: no warning about a local store


def test_the_warehouse_holds_every_row_after_the_retry(example_run, airflow_cluster):
    run_id = example_run.run_id
    warehouse = airflow_cluster.warehouse

    orders = warehouse.query(f'select count(*) from "{run_id}".orders')[0][0]
    raw_orders = warehouse.query("select count(*) from shop.raw_orders")[0][0]
    # product_sales is below the model that failed: built by the retry, on the other worker.
    products = warehouse.query(f'select count(*) from "{run_id}".product_sales')[0][0]
    raw_products = warehouse.query("select count(*) from shop.raw_products")[0][0]

    assert (orders, products) == (raw_orders, raw_products)
    assert raw_orders > 0

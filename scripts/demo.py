"""Run the example DAG locally: try 1 fails on purpose, Airflow retries, the retry re-runs only
the failed model and what depends on it, and the run ends green.

    make demo                                   # fails int_order_items_priced on try 1
    DBT_FORCE_FAILURE=stg_payments make demo    # fail another model instead
    DBT_FORCE_FAILURE= make demo                # no failure: one green try

DBT_FORCE_FAILURE names the model(s) that fail on an Airflow task's first try
(transform/macros/force_failure.sql). The DAG runs as written: off production, set_default_args()
retries within seconds.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DAG_ID = "retry_dbt_failures"
DEFAULT_FAILURE = "int_order_items_priced"


def main() -> int:
    from orchestrate import local_env

    env = local_env.apply()
    os.environ.setdefault("DBT_FORCE_FAILURE", DEFAULT_FAILURE)
    print(f"Local Airflow home: {env['AIRFLOW_HOME']}")

    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils.db import upgradedb

    from orchestrate import config
    from orchestrate.dbt_api import DbtApiStore, TaskKey
    from orchestrate.dbt_results import counts_by_status, node_results

    upgradedb()  # `airflow db migrate`, in this process: a no-op once the DB is current
    dag = DagBag(dag_folder=REPO_ROOT / "dags", safe_mode=False).get_dag(DAG_ID)
    dag_run = dag.test()

    store = DbtApiStore(config.dbt_api_url())
    print(f"\nDAG run {dag_run.run_id}: {dag_run.state}")
    for ti in dag_run.get_task_instances():
        key = TaskKey(DAG_ID, dag_run.run_id, ti.task_id, ti.map_index)
        total = None
        for try_number in store.tries(key):
            results = node_results(store.read_bytes(key, try_number, "run_results.json"))
            total = total or len(results)
            counts = ", ".join(f"{n} {status}" for status, n in counts_by_status(results).items())
            print(f"  {ti.task_id} try {try_number}: ran {len(results)} of {total} nodes ({counts})")
            for result in results:
                if result.status in ("error", "fail"):
                    print(f"      {result.status}: {result.unique_id}")
        print(f"  {ti.task_id}: {ti.state} on try {ti.try_number}; artifacts in {store.task_path(key)}")
    return 0 if dag_run.state == "success" else 1


if __name__ == "__main__":
    sys.exit(main())

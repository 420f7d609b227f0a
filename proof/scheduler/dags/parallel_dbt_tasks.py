"""
## Two dbt tasks at the same time, each failing once (proof/scheduler only)
The example's task twice, side by side. Each task fails, on its first try only, the models that the
run's conf names (`fail_a`, `fail_b`), so every task of every run has its own failure and its own
retry: a retry that read another task's (or another run's) results would re-run the wrong nodes.

DuckDB lets one process write a database file at a time, so each task has its own connection,
`warehouse_a` and `warehouse_b`, and the test Airflow names their files after the run.
"""

from datetime import timedelta

from airflow.sdk import dag, task

from orchestrate.utils import datacoves_utils

FULL_BUILD = "dbt build -s source:shop+ payment_methods+"
RETRY = "dbt build -s result:error+ --state logs"
# What both tasks share: the dbt API on, and a retry that reads the previous try's results.
DBT_API = {"dbt_api_enabled": True, "download_run_results": True}


@dag(
    doc_md=__doc__,
    catchup=False,
    # Zero: the test waits for the retry, and the 5-minute production delay would only slow it down.
    default_args=datacoves_utils.set_default_args(
        owner="Data Team", owner_email="data-team@example.com", retry_delay=timedelta(0)
    ),
    schedule=None,
    tags=["dbt_retry", "test"],
    params={"fail_a": "", "fail_b": ""},
)
def parallel_dbt_tasks():
    # `env` is templated, so DBT_FORCE_FAILURE comes from this run's conf; append_env keeps the rest
    # of the worker's environment (PATH, the connections, the dbt API's root).
    @task.datacoves_dbt(
        connection_id="warehouse_a", env={"DBT_FORCE_FAILURE": "{{ params.fail_a }}"}, append_env=True, **DBT_API
    )
    def dbt_build_a(expected_files: list):
        return RETRY if expected_files else FULL_BUILD

    @task.datacoves_dbt(
        connection_id="warehouse_b", env={"DBT_FORCE_FAILURE": "{{ params.fail_b }}"}, append_env=True, **DBT_API
    )
    def dbt_build_b(expected_files: list):
        return RETRY if expected_files else FULL_BUILD

    # No dependency between them: the scheduler may run them at the same time.
    dbt_build_a(expected_files=["run_results.json"])
    dbt_build_b(expected_files=["run_results.json"])


parallel_dbt_tasks()

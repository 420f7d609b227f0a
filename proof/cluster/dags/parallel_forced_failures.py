"""
## The example's dbt task, failing the model the run's conf names (proof/cluster only)
Each run fails, on its first try only, the model in its conf (`fail`), so runs that go on at the
same time each have their own failure and their own retry: a retry that read another run's
results would re-run the wrong nodes.
"""

from datetime import timedelta

from airflow.sdk import dag, task

from orchestrate.utils import datacoves_utils


@dag(
    doc_md=__doc__,
    catchup=False,
    # Zero: the test waits for the retry, and any delay would only slow it down.
    default_args=datacoves_utils.set_default_args(
        owner="Data Team", owner_email="data-team@example.com", retry_delay=timedelta(0)
    ),
    schedule=None,
    tags=["dbt_retry", "test"],
    params={"fail": ""},
)
def parallel_forced_failures():
    # `env` is templated, so DBT_FORCE_FAILURE comes from this run's conf; append_env keeps the rest
    # of the worker's environment (PATH, the connections, the dbt API's URL).
    @task.datacoves_dbt(
        connection_id="warehouse",
        dbt_api_enabled=True,
        download_run_results=True,
        env={"DBT_FORCE_FAILURE": "{{ params.fail }}"},
        append_env=True,
    )
    def dbt_build(expected_files: list):
        if expected_files:
            return "dbt build -s result:error+ --state logs"
        return "dbt build -s source:shop+ payment_methods+"

    dbt_build(expected_files=["run_results.json"])


parallel_forced_failures()

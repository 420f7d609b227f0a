"""
## Build the orders mart, failing only what the run's conf names (proof/scheduler only)
Like the example DAG, into the same `warehouse` connection, but the models that fail on the
first try come from the run's conf (`fail`), so a test can build the mart on a first try that
succeeds, which the example DAG under the test Airflow never does.
"""

from datetime import timedelta

from airflow.sdk import dag, task

from orchestrate.utils import datacoves_utils

FULL_BUILD = "dbt build -s source:shop+ payment_methods+"
RETRY = "dbt build -s result:error+ --state logs"


@dag(
    doc_md=__doc__,
    catchup=False,
    default_args=datacoves_utils.set_default_args(
        owner="Data Team", owner_email="data-team@example.com", retry_delay=timedelta(0)
    ),
    schedule=None,
    tags=["dbt_retry", "test"],
    params={"fail": ""},
)
def build_orders_mart():
    # `env` is templated, so DBT_FORCE_FAILURE comes from this run's conf; append_env keeps the rest.
    @task.datacoves_dbt(
        connection_id="warehouse",
        env={"DBT_FORCE_FAILURE": "{{ params.fail }}"},
        append_env=True,
        dbt_api_enabled=True,
        download_run_results=True,
    )
    def dbt_build(expected_files: list):
        return (
            "dbt build -s result:error+ --state logs"
            if expected_files
            else "dbt build -s source:shop+ payment_methods+"
        )

    dbt_build(expected_files=["run_results.json"])


build_orders_mart()

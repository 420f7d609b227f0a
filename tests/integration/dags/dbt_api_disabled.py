"""
## The example with the dbt API off
Nothing is stored or downloaded, so `expected_files` is always `[]`: every try is a full build.
"""

from airflow.sdk import dag, task

from orchestrate.utils import datacoves_utils


@dag(
    doc_md=__doc__,
    catchup=False,
    default_args=datacoves_utils.set_default_args(owner="Data Team", owner_email="data-team@example.com"),
    schedule=None,
    tags=["dbt_retry", "test"],
)
def dbt_api_disabled():
    @task.datacoves_dbt(connection_id="warehouse", dbt_api_enabled=False, download_run_results=True)
    def dbt_build(expected_files: list = []):
        if expected_files:
            return "dbt build -s result:error+ --state logs"
        return "dbt build -s source:shop+ payment_methods+"

    dbt_build(expected_files=["run_results.json"])


dbt_api_disabled()

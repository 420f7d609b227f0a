"""
## Retry dbt failures
One task builds the dbt project. When a model fails, Airflow retries the task, and the retry
re-runs only the failed models and everything downstream of them: `result:error+`, selected from
the earlier try's results, which `@task.datacoves_dbt` downloads into `logs/`.

This is the example of Datacoves' guide "Retry a dbt task", with the `airflow.sdk` imports.
"""

from airflow.sdk import dag, task

from orchestrate.utils import datacoves_utils


@dag(
    doc_md=__doc__,
    catchup=False,
    # copier: swap owner, owner_email
    default_args=datacoves_utils.set_default_args(owner="Data Team", owner_email="data-team@example.com"),
    # copier: endswap
    schedule=datacoves_utils.set_schedule("0 0 1 */12 *"),
    description="Sample DAG demonstrating how to run the dbt models that fail",
    tags=["dbt_retry"],
)
def retry_dbt_failures():
    @task.datacoves_dbt(
        connection_id="warehouse",  # copier: swap connection_id
        dbt_api_enabled=True,
        download_run_results=True,
    )
    def dbt_build(expected_files: list = []):
        if expected_files:
            return "dbt build -s result:error+ --state logs"
        else:
            return "dbt build -s source:shop+ payment_methods+"

    dbt_build(expected_files=["run_results.json"])


retry_dbt_failures()

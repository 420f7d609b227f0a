"""
## Retry dbt failures, failed tests included
Like `retry_dbt_failures`, but the retry command comes from `retry_command()`: besides models
that errored and their descendants, it re-runs data tests that failed together with the models
they test, and every node that was skipped. `result:error+` alone selects nothing after a failed
test, so that retry would end green with downstream tables never built.
"""

from airflow.sdk import dag, task

from orchestrate.utils import datacoves_utils

FULL_BUILD = "dbt build -s source:shop+ payment_methods+"


@dag(
    doc_md=__doc__,
    catchup=False,
    # copier: swap owner, owner_email
    default_args=datacoves_utils.set_default_args(owner="Data Team", owner_email="data-team@example.com"),
    # copier: endswap
    schedule=datacoves_utils.set_schedule("0 0 1 */12 *"),
    description="Retry a dbt build: failed models, failed tests and everything they skipped",
    tags=["dbt_retry"],
)
def retry_dbt_failures_and_tests():
    @task.datacoves_dbt(
        connection_id="warehouse",  # copier: swap connection_id
        dbt_api_enabled=True,
        download_run_results=True,
    )
    def dbt_build(expected_files: list = []):
        if expected_files:
            return datacoves_utils.retry_command(FULL_BUILD)
        return FULL_BUILD

    dbt_build(expected_files=["run_results.json"])


retry_dbt_failures_and_tests()

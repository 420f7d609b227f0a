"""
## The example's dbt task, for fault trials (proof/scheduler only)
The tests SIGKILL its task process at points across many tries; Airflow retries it each time.
Try 1 fails on its own (the model DBT_FORCE_FAILURE names), so every later try retries from
stored results, or builds everything when none are usable.

A retry that succeeds also writes `target/ballast.bin` (128 MiB), stored before run_results.json:
its upload takes long enough for the tests to kill a try in the middle of it.
"""

from datetime import timedelta

from airflow.sdk import dag, task

from orchestrate.utils import datacoves_utils

TRIES = 30  # more than the fault trials kill, so the run can still end green
BALLAST = "target/ballast.bin"


@dag(
    doc_md=__doc__,
    catchup=False,
    default_args=datacoves_utils.set_default_args(
        owner="Data Team", owner_email="data-team@example.com", retries=TRIES, retry_delay=timedelta(0)
    ),
    schedule=None,
    tags=["dbt_retry", "test"],
)
def killed_dbt_task():
    @task.datacoves_dbt(
        connection_id="warehouse",
        dbt_api_enabled=True,
        download_run_results=True,
        upload_additional_files=[BALLAST],
    )
    def dbt_build(expected_files: list):
        if expected_files:
            return f"dbt build -s result:error+ --state logs && dd if=/dev/zero of={BALLAST} bs=1048576 count=128"
        return "dbt build -s source:shop+ payment_methods+"

    dbt_build(expected_files=["run_results.json"])


killed_dbt_task()

"""
## The example's dbt task, whose retry stores a big file (proof/cluster only)
Try 1 fails on its own (the model DBT_FORCE_FAILURE names). A retry that succeeds also writes
`target/ballast.bin` (64 MiB), stored before run_results.json: its upload takes long enough for a
test to kill the retry's worker in the middle of it. The try after that runs on the other worker.
"""

from datetime import timedelta

from airflow.sdk import dag, task

from orchestrate.utils import datacoves_utils

BALLAST = "target/ballast.bin"


@dag(
    doc_md=__doc__,
    catchup=False,
    default_args=datacoves_utils.set_default_args(
        owner="Data Team", owner_email="data-team@example.com", retries=3, retry_delay=timedelta(0)
    ),
    schedule=None,
    tags=["dbt_retry", "test"],
)
def lost_worker():
    @task.datacoves_dbt(
        connection_id="warehouse",
        dbt_api_enabled=True,
        download_run_results=True,
        upload_additional_files=[BALLAST],
    )
    def dbt_build(expected_files: list):
        if expected_files:
            return f"dbt build -s result:error+ --state logs && dd if=/dev/zero of={BALLAST} bs=1048576 count=64"
        return "dbt build -s source:shop+ payment_methods+"

    dbt_build(expected_files=["run_results.json"])


lost_worker()

"""
## A dbt project shaped unlike transform/
`tests/integration/projects/analytics`: its own model and seed folders, target-path, log-path and
packages-install-path, and a local package beside it (`../shared_macros`) that is not installed.
The retry command comes from retry_command().
"""

from pathlib import Path

from airflow.sdk import dag, task

from orchestrate import config
from orchestrate.utils import datacoves_utils

PROJECT = Path(__file__).resolve().parents[1] / "projects" / "analytics"
FULL_BUILD = "dbt build -s '*'"


@dag(
    doc_md=__doc__,
    catchup=False,
    default_args=datacoves_utils.set_default_args(owner="Data Team", owner_email="data-team@example.com"),
    schedule=None,
    tags=["dbt_retry", "test"],
)
def other_project():
    @task.datacoves_dbt(
        connection_id=config.CONNECTION_ID,
        project_dir=PROJECT,
        dbt_api_enabled=True,
        download_run_results=True,
    )
    def dbt_build(expected_files: list = []):
        if expected_files:
            return datacoves_utils.retry_command(FULL_BUILD)
        return FULL_BUILD

    dbt_build(expected_files=["run_results.json"])


other_project()

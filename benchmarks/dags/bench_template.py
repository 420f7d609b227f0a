"""
## Benchmark: the template's way, over a synthetic project (benchmarks/ only)
One `@task.datacoves_dbt` task builds the project that BENCH_PROJECT names; when the first try
fails, the retry re-runs the failed models and their descendants only.
"""

import os

from airflow.sdk import dag, task

from orchestrate.utils import datacoves_utils

PROJECT = os.environ.get("BENCH_PROJECT", "")


@dag(
    doc_md=__doc__,
    catchup=False,
    default_args=datacoves_utils.set_default_args(owner="Data Team", owner_email="data-team@example.com"),
    schedule=None,
    tags=["benchmark"],
)
def bench_template():
    @task.datacoves_dbt(
        connection_id="bench_warehouse",
        project_dir=PROJECT,
        dbt_api_enabled=True,
        download_run_results=True,
    )
    def dbt_build(expected_files: list):
        if expected_files:
            return "dbt build -s result:error+ --state logs"
        return "dbt build"

    dbt_build(expected_files=["run_results.json"])


bench_template()

"""
## Benchmark under the scheduler: the template's way, three retry commands (benchmarks/ only)
One `@task.datacoves_dbt` task builds a synthetic project; what a retry runs differs:

- `template`: the guide's command, `dbt build -s result:error+ --state logs`;
- `template_retry_command`: `retry_command()`, which also rebuilds the model of a failed test and
  what was skipped;
- `template_dbt_retry`: dbt's own `dbt retry`, from the same stored results.

benchmarks/scheduler.py names the DAGs to make in BENCH_SCHEDULER_DAGS (JSON): per DAG its id, the
project, the environment that forces a failure, and the profile's overrides.
"""

import json
import os
from datetime import timedelta

from airflow.sdk import dag, get_parsing_context, task

from orchestrate.utils import datacoves_utils

FIRST_TRY = 'dbt build -s "*"'
RETRIES = {
    "template": "dbt build -s result:error+ --state logs",
    "template_retry_command": datacoves_utils.retry_command(FIRST_TRY),
    "template_dbt_retry": "dbt retry --state logs",
}


def template_dag(spec: dict) -> None:
    retry = RETRIES[spec["contender"]]

    @dag(
        dag_id=spec["dag_id"],
        doc_md=__doc__,
        catchup=False,
        # Every contender retries at once, so the cycle measures the work, not a wait.
        default_args=datacoves_utils.set_default_args(
            owner="Data Team",
            owner_email="data-team@example.com",
            retry_delay=timedelta(0),
            retry_exponential_backoff=0,
        ),
        schedule=None,
        tags=["benchmark"],
    )
    def bench():
        @task.datacoves_dbt(
            connection_id="bench_warehouse",
            project_dir=spec["project"],
            overrides=spec["profile"],
            dbt_api_enabled=True,
            download_run_results=True,
            env=spec["env"],
            append_env=True,
        )
        def dbt_build(expected_files: list):
            if expected_files:
                return retry
            return FIRST_TRY

        dbt_build(expected_files=["run_results.json"])

    bench()


# A task's process makes only the DAG it runs (Airflow's parsing context), as the Cosmos file does.
parsing = get_parsing_context().dag_id
for spec in json.loads(os.environ.get("BENCH_SCHEDULER_DAGS", "[]")):
    if spec["contender"] in RETRIES and parsing in (None, spec["dag_id"]):
        template_dag(spec)

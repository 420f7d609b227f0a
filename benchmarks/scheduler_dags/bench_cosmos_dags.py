"""
## Benchmark under the scheduler: Cosmos, in watcher mode and one task per node (benchmarks/ only)
The same synthetic projects as the template's benchmark DAGs, drawn from their manifests:

- `cosmos_watcher`: `ExecutionMode.WATCHER` as Cosmos documents it, `ExecutionConfig(execution_mode=
  ExecutionMode.WATCHER)` and nothing else: one producer task runs `dbt build` (in-process dbt runner),
  one sensor per model and one per model's tests (TestBehavior.AFTER_EACH, the default), deferrable
  (the default; the benchmark's Airflow runs a triggerer). A failed sensor's retry runs its one node.
- `cosmos_per_node`: `ExecutionMode.LOCAL`, as dags/cosmos_dbt_build.py: `dbt build` of one model
  and its tests per task, in a subprocess; Airflow retries a failed node's task on its own.

benchmarks/scheduler.py names the DAGs to make in BENCH_SCHEDULER_DAGS (JSON): per DAG its id, the
project, the environment that forces a failure, and the profile's overrides.
"""

import json
import os
import sys
from datetime import timedelta
from pathlib import Path

from airflow.sdk import get_parsing_context
from cosmos import DbtDag, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior
from cosmos.profiles import DuckDBUserPasswordProfileMapping

from orchestrate.utils import datacoves_utils

DBT = Path(sys.executable).parent / "dbt"


def execution(contender: str) -> tuple[RenderConfig, ExecutionConfig]:
    if contender == "cosmos_watcher":
        return RenderConfig(load_method=LoadMode.DBT_MANIFEST), ExecutionConfig(execution_mode=ExecutionMode.WATCHER)
    render = RenderConfig(
        load_method=LoadMode.DBT_MANIFEST,
        test_behavior=TestBehavior.BUILD,
        should_detach_multiple_parents_tests=True,
        invocation_mode=InvocationMode.SUBPROCESS,
    )
    return render, ExecutionConfig(dbt_executable_path=DBT, invocation_mode=InvocationMode.SUBPROCESS)


def cosmos_dag(spec: dict) -> DbtDag:
    project = Path(spec["project"])
    render_config, execution_config = execution(spec["contender"])
    return DbtDag(
        dag_id=spec["dag_id"],
        doc_md=__doc__,
        project_config=ProjectConfig(dbt_project_path=project, manifest_path=project / "target" / "manifest.json"),
        profile_config=ProfileConfig(
            profile_name="bench",
            target_name="default",
            profile_mapping=DuckDBUserPasswordProfileMapping(conn_id="bench_warehouse", profile_args=spec["profile"]),
        ),
        render_config=render_config,
        execution_config=execution_config,
        operator_args={"env": spec["env"], "append_env": True},
        catchup=False,
        # Every contender retries at once, so the cycle measures the work, not a wait.
        default_args=datacoves_utils.set_default_args(
            owner="Data Team",
            owner_email="data-team@example.com",
            retry_delay=timedelta(0),
            retry_exponential_backoff=0,
        ),
        schedule=None,
        tags=["benchmark", "cosmos"],
    )


# A DbtDag is found as a module-level name. A task's process makes only the DAG it runs: drawing
# every DAG of this file (Airflow's parsing context) would add seconds to each task's start.
parsing = get_parsing_context().dag_id
for spec in json.loads(os.environ.get("BENCH_SCHEDULER_DAGS", "[]")):
    if spec["contender"].startswith("cosmos_") and parsing in (None, spec["dag_id"]):
        globals()[spec["dag_id"]] = cosmos_dag(spec)

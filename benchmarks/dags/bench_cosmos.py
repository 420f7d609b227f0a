"""
## Benchmark: Cosmos over a synthetic project (benchmarks/ only)
The project that BENCH_PROJECT names, one task per model, configured as dags/cosmos_dbt_build.py:
drawn from the manifest, `dbt build` per node, dbt in a subprocess. A failed node's task is
retried by Airflow on its own.
"""

import os
import sys
from pathlib import Path

from airflow.sdk import dag
from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import InvocationMode, LoadMode, TestBehavior
from cosmos.profiles import DuckDBUserPasswordProfileMapping

from orchestrate.utils import datacoves_utils

PROJECT = Path(os.environ.get("BENCH_PROJECT", "."))


@dag(
    doc_md=__doc__,
    catchup=False,
    default_args=datacoves_utils.set_default_args(owner="Data Team", owner_email="data-team@example.com"),
    schedule=None,
    tags=["benchmark", "cosmos"],
)
def bench_cosmos():
    DbtTaskGroup(
        group_id="transform",
        project_config=ProjectConfig(dbt_project_path=PROJECT, manifest_path=PROJECT / "target" / "manifest.json"),
        profile_config=ProfileConfig(
            profile_name="bench",
            target_name="default",
            profile_mapping=DuckDBUserPasswordProfileMapping(conn_id="bench_warehouse"),
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            test_behavior=TestBehavior.BUILD,
            should_detach_multiple_parents_tests=True,
            invocation_mode=InvocationMode.SUBPROCESS,
        ),
        execution_config=ExecutionConfig(
            dbt_executable_path=Path(sys.executable).parent / "dbt",
            invocation_mode=InvocationMode.SUBPROCESS,
        ),
    )


bench_cosmos()

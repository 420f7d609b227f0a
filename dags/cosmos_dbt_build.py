"""
## The same dbt build with Astronomer Cosmos: one Airflow task per dbt node
`retry_dbt_failures` builds the project in one task. Here Cosmos draws it as one task per model,
seed and snapshot, each running `dbt build` for its node (its tests included), and one task per
test of two models. A retry is Airflow's own per-task retry: the failed node's task runs again,
and the tasks downstream of it, which waited, run after it.

Cosmos draws the DAG from dbt's manifest, so parsing this file calls no dbt: `make manifest`
(`dbt parse`) writes `transform/target/manifest.json`; a deployment builds it with the project.
The profile comes from the other examples' connection (`config.CONNECTION_ID`), through Cosmos'
DuckDB profile mapping (another database needs its own mapping class). README.md compares the two ways.
"""

import sys
from pathlib import Path

from airflow.sdk import dag
from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import InvocationMode, LoadMode, TestBehavior
from cosmos.profiles import DuckDBUserPasswordProfileMapping

from orchestrate import config, manifest
from orchestrate.profiles import profile_name
from orchestrate.utils import datacoves_utils

DBT_PROJECT = config.dbt_project_dir()
MANIFEST = manifest.require(DBT_PROJECT)


@dag(
    doc_md=__doc__,
    catchup=False,
    # copier: swap owner, owner_email
    default_args=datacoves_utils.set_default_args(owner="Data Team", owner_email="data-team@example.com"),
    # copier: endswap
    schedule=datacoves_utils.set_schedule("0 0 1 */12 *"),
    description="Build the dbt project with Cosmos: one task per dbt node, retried one by one",
    tags=["dbt_retry", "cosmos"],
)
def cosmos_dbt_build():
    DbtTaskGroup(
        group_id="transform",
        project_config=ProjectConfig(dbt_project_path=DBT_PROJECT, manifest_path=MANIFEST),
        profile_config=ProfileConfig(
            profile_name=profile_name(DBT_PROJECT),
            target_name="default",
            profile_mapping=DuckDBUserPasswordProfileMapping(conn_id=config.CONNECTION_ID),
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            test_behavior=TestBehavior.BUILD,
            # A test of two models (relationships) gets its own task, after both: inside the
            # first model's `dbt build` it would query a table not built yet.
            should_detach_multiple_parents_tests=True,
            # Drawn from the manifest, so parsing never runs dbt; SUBPROCESS also spares the parse
            # Cosmos' check that dbt is importable next to Airflow, which it need not be.
            invocation_mode=InvocationMode.SUBPROCESS,
        ),
        execution_config=ExecutionConfig(
            dbt_executable_path=Path(sys.executable).parent / "dbt",
            # dbt in its own process, as the template's tasks run it: dbt's in-process runner keeps
            # a DuckDB file open until the task process exits, which blocks any other writer.
            invocation_mode=InvocationMode.SUBPROCESS,
        ),
    )


cosmos_dbt_build()

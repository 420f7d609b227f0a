"""The example DAG end to end: a forced failure on try 1, Airflow's retry, only the failed subtree
re-run on try 2. Expected node sets come from dbt's manifest and try 1's results.

The connection carries a canary password: after the run it must be nowhere (XCom, the metadata
DB with its rendered template fields, the dbt API store, files left behind).
"""

import json
import os
from pathlib import Path

import pytest

from orchestrate import scratch
from orchestrate.config import REPO_ROOT
from orchestrate.dbt_results import descendants

pytestmark = pytest.mark.integration

DAG_ID = "retry_dbt_failures"
FAILED_MODEL = "int_order_items_priced"
CANARY = "canary-7d1e0f-secret"


def full_selection(manifest: bytes) -> set[str]:
    """What the example's first-try command selects: everything below the shop's sources and the seed."""
    roots = {uid for uid in json.loads(manifest)["sources"] if uid.startswith("source.shop.shop.")}
    return descendants(manifest, roots | {"seed.shop.payment_methods"}) - roots


def files_under(folder):
    return {path: path.stat().st_mtime_ns for path in folder.rglob("*")}


def files_holding(text: str, *roots: Path) -> list[Path]:
    needle = text.encode()
    return [path for root in roots for path in root.rglob("*") if path.is_file() and needle in path.read_bytes()]


@pytest.fixture(scope="module")
def transform_before():
    return files_under(REPO_ROOT / "transform")


@pytest.fixture(scope="module")
def failed_then_retried(dag_runner, transform_before):
    """One run of the example DAG whose first try fails in FAILED_MODEL, with a canary password."""
    connection = {"conn_type": "duckdb", "host": str(dag_runner.warehouse), "password": CANARY}
    return dag_runner.run(
        DAG_ID,
        DBT_FORCE_FAILURE=FAILED_MODEL,
        AIRFLOW_CONN_WAREHOUSE=json.dumps({**connection, "extra": {"token": CANARY}}),
    )


def test_run_ends_green_on_the_second_try(failed_then_retried):
    state, tasks = failed_then_retried

    assert state == "success"
    assert (tasks["dbt_build"].state, tasks["dbt_build"].try_number) == ("success", 2)


def test_first_try_builds_everything_the_command_selects(failed_then_retried):
    dbt_build = failed_then_retried[1]["dbt_build"]

    assert {r.unique_id for r in dbt_build.tries[1]} == full_selection(dbt_build.manifest)
    assert {r.unique_id for r in dbt_build.tries[1] if r.status == "error"} == {f"model.shop.{FAILED_MODEL}"}


def test_retry_rebuilds_only_the_failed_subtree(failed_then_retried):
    dbt_build = failed_then_retried[1]["dbt_build"]
    errored = {r.unique_id for r in dbt_build.tries[1] if r.status == "error"}

    retried = {r.unique_id for r in dbt_build.tries[2]}

    assert retried == descendants(dbt_build.manifest, errored)
    assert {r.status for r in dbt_build.tries[2]} <= {"success", "pass"}
    assert len(retried) < len(dbt_build.tries[1])


def test_the_summary_of_the_retry_is_the_tasks_xcom(failed_then_retried):
    dbt_build = failed_then_retried[1]["dbt_build"]

    assert dbt_build.xcom["try_number"] == 2
    assert dbt_build.xcom["retry"] is True
    assert dbt_build.xcom["nodes"] == len(dbt_build.tries[2])
    assert (dbt_build.xcom["failed"], dbt_build.xcom["not_rerun"]) == ([], [])


def asset_events(dag_id: str, run_id: str) -> dict[str, dict]:
    """The asset events a DAG run's tasks recorded: asset URI -> the event's extra."""
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        query = select(AssetEvent).where(AssetEvent.source_dag_id == dag_id, AssetEvent.source_run_id == run_id)
        return {event.uri: event.extra for event in session.scalars(query)}


def test_the_retry_records_an_asset_event_for_each_table_it_rebuilt_and_the_failed_try_none(failed_then_retried):
    dbt_build = failed_then_retried[1]["dbt_build"]
    nodes = json.loads(dbt_build.manifest)["nodes"]
    rebuilt = [nodes[r.unique_id] for r in dbt_build.tries[2] if r.unique_id.startswith(("model.", "seed."))]

    events = asset_events(DAG_ID, dbt_build.key.upload_tag)

    assert events == {
        f"x-duckdb://{node['database']}/{node['schema']}/{node['alias']}": {
            "dbt_unique_id": node["unique_id"],
            "try_number": 2,
        }
        for node in rebuilt
    }


def test_warehouse_is_complete_after_the_retry(failed_then_retried, dag_runner):
    assert failed_then_retried[0] == "success"
    for mart, (built, landed) in dag_runner.mart_rows_and_landed_rows().items():
        assert built == landed, mart


def test_the_checked_in_project_is_never_written_to(failed_then_retried, transform_before):
    assert files_under(REPO_ROOT / "transform") == transform_before


def test_the_connection_password_is_in_no_xcom_store_or_file_and_no_folder_is_left(failed_then_retried, dag_runner):
    dbt_build = failed_then_retried[1]["dbt_build"]

    assert CANARY not in json.dumps(dbt_build.xcom)
    # Airflow's home holds its DB (XCom, rendered template fields). Task log files, which dag.test()
    # does not write, are scanned under a real Airflow: proof/scheduler/test_secrets.py.
    airflow_home = Path(os.environ["AIRFLOW_HOME"])
    assert files_holding(CANARY, airflow_home, Path(dag_runner.store.root.path), scratch.scratch_root()) == []
    assert list(scratch.scratch_root().iterdir()) == []  # each try's folder (profile, working copy) is gone

"""The example DAG end to end: a forced failure on try 1, Airflow's retry, only the failed
subtree re-run on try 2. Expected node sets come from dbt's manifest and try 1's results."""

import json

import pytest

from orchestrate.config import REPO_ROOT
from orchestrate.dbt_results import descendants

pytestmark = pytest.mark.integration

DAG_ID = "retry_dbt_failures"
FAILED_MODEL = "int_order_items_priced"


def full_selection(manifest: bytes) -> set[str]:
    """What the DAG's first-try command selects: everything below the shop's sources and the seed."""
    roots = {uid for uid in json.loads(manifest)["sources"] if uid.startswith("source.shop.shop.")}
    return descendants(manifest, roots | {"seed.shop.payment_methods"}) - roots


def files_under(folder):
    return {path: path.stat().st_mtime_ns for path in folder.rglob("*")}


@pytest.fixture(scope="module")
def transform_before():
    return files_under(REPO_ROOT / "transform")


@pytest.fixture(scope="module")
def failed_then_retried(dag_runner, transform_before):
    """One run of the example DAG whose first try fails in FAILED_MODEL."""
    return dag_runner.run(DAG_ID, DBT_FORCE_FAILURE=FAILED_MODEL)


def test_the_checked_in_project_is_never_written_to(failed_then_retried, transform_before):
    assert files_under(REPO_ROOT / "transform") == transform_before


def test_run_ends_green_on_the_second_try(failed_then_retried):
    state, tasks = failed_then_retried

    assert state == "success"
    assert tasks["dbt_build"].state == "success"
    assert tasks["dbt_build"].try_number == 2


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


def test_warehouse_is_complete_after_the_retry(failed_then_retried, dag_runner):
    assert failed_then_retried[0] == "success"
    for mart, (built, landed) in dag_runner.mart_rows_and_landed_rows().items():
        assert built == landed, mart


def test_a_new_dag_run_builds_everything_again(failed_then_retried, dag_runner):
    state, tasks = dag_runner.run(DAG_ID)

    dbt_build = tasks["dbt_build"]
    assert state == "success"
    assert list(dbt_build.tries) == [1]
    assert {r.unique_id for r in dbt_build.tries[1]} == full_selection(dbt_build.manifest)


def test_with_the_dbt_api_off_nothing_is_stored_and_each_try_builds_everything(dag_runner):
    state, tasks = dag_runner.run("dbt_api_disabled", DBT_FORCE_FAILURE=FAILED_MODEL)

    assert state == "success"
    assert tasks["dbt_build"].try_number == 2
    assert tasks["dbt_build"].tries == {}
    assert not (dag_runner.store.root / "dbt_api_disabled").exists()

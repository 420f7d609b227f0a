"""retry_command() against real dbt: after a failing data test, the spec's `result:error+` retry
selects nothing, so the task fails for good, naming the fix, rather than end green over tables
never built; retry_command() rebuilds the tested model, re-runs the test and builds everything
that was skipped. Expected node sets come from the manifest.

The spec's DAG runs here as the guide prints it (tests/integration/spec/, with the deprecated
`airflow.decorators` import), so the guide's own code stays proven.
"""

import csv
import json
import os
import shutil
import subprocess
import sys

import duckdb
import pytest

from orchestrate.config import REPO_ROOT
from orchestrate.dbt_results import descendants, unfinished
from orchestrate.errors import RetryLeftNodesBehind
from orchestrate.profiles import profile_name
from orchestrate.working_copy import make_working_copy

pytestmark = pytest.mark.integration

ROBUST_DAG = "retry_dbt_failures_and_tests"
SPEC_FOLDER = REPO_ROOT / "tests" / "integration" / "spec"
BAD_STATUS = "lost"  # not one of stg_orders.status' accepted values


@pytest.fixture(scope="module")
def spec_dag(airflow_db):
    """The guide's example DAG, loaded on its own: its dag_id is the one dags/ uses."""
    from airflow.dag_processing.dagbag import DagBag

    with pytest.warns(Warning, match="airflow.decorators"):
        bag = DagBag(dag_folder=SPEC_FOLDER, safe_mode=False)
    assert not bag.import_errors
    (dag,) = bag.dags.values()
    return dag


@pytest.fixture(scope="module")
def project_with_a_bad_row(tmp_path_factory, dag_runner):
    """A copy of transform/ whose raw orders hold one row that fails a data test; DAGs run it."""
    project = tmp_path_factory.mktemp("project") / "transform"
    shutil.copytree(REPO_ROOT / "transform", project, ignore=shutil.ignore_patterns("target", "logs"))
    dag_runner.monkeypatch.setenv("DATACOVES__DBT_HOME", str(project))
    return project


def set_first_order_status(project, status):
    path = project / "data" / "raw_orders.csv"
    with path.open() as f:
        rows = list(csv.DictReader(f))
    rows[0]["status"] = status
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def run_with_a_failing_test(dag_runner, project, dag, **env):
    """Try 1 meets the bad row; the row is corrected before try 2 (as a person fixing data would)."""
    set_first_order_status(project, BAD_STATUS)

    def correct_the_row(context):
        set_first_order_status(project, "placed")

    state, tasks = dag_runner.run(dag, before_retry=correct_the_row, **env)
    return state, tasks["dbt_build"]


@pytest.fixture(scope="module")
def robust(dag_runner, project_with_a_bad_row):
    return run_with_a_failing_test(dag_runner, project_with_a_bad_row, ROBUST_DAG)


@pytest.fixture(scope="module")
def spec(dag_runner, project_with_a_bad_row, robust, spec_dag):
    # The guide's DAG names its connection `warehouse`: that name, too, is this runner's warehouse.
    guide_connection = json.dumps({"conn_type": "duckdb", "host": str(dag_runner.warehouse)})
    return run_with_a_failing_test(
        dag_runner, project_with_a_bad_row, spec_dag, AIRFLOW_CONN_WAREHOUSE=guide_connection
    )


def failed_tests(results):
    return {r.unique_id for r in results if r.status == "fail"}


def test_first_try_fails_a_data_test_and_skips_what_is_downstream(robust):
    _, dbt_build = robust
    first = dbt_build.tries[1]

    assert len(failed_tests(first)) == 1
    assert not [r for r in first if r.status == "error"]
    assert [r for r in first if r.status == "skipped"]


def test_retry_rebuilds_the_tested_model_reruns_the_test_and_builds_the_skipped(robust):
    state, dbt_build = robust
    first, retry = dbt_build.tries[1], dbt_build.tries[2]
    manifest = json.loads(dbt_build.manifest)
    (failed_test,) = failed_tests(first)
    tested_models = set(manifest["parent_map"][failed_test])
    skipped = {r.unique_id for r in first if r.status == "skipped"}

    ran = {r.unique_id for r in retry}

    assert state == "success"
    assert dbt_build.try_number == 2
    assert failed_test in ran
    assert tested_models <= ran
    assert skipped <= ran
    assert ran <= descendants(dbt_build.manifest, tested_models | skipped)
    assert {r.status for r in retry} <= {"success", "pass"}


def test_retry_summary_reports_nothing_left_behind(robust):
    _, dbt_build = robust

    assert dbt_build.xcom["retry"] is True
    assert dbt_build.xcom["try_number"] == 2
    assert dbt_build.xcom["nodes"] == len(dbt_build.tries[2])
    assert dbt_build.xcom["failed"] == []
    assert dbt_build.xcom["not_rerun"] == []


def test_warehouse_is_complete_after_the_robust_retry(robust, dag_runner, project_with_a_bad_row):
    with duckdb.connect(str(dag_runner.warehouse), read_only=True) as db:
        lost = db.execute("select count(*) from orders where status = ?", [BAD_STATUS]).fetchall()
        built = db.execute("select count(*) from orders").fetchall()
    assert lost == [(0,)]
    assert built[0][0] > 0


def test_the_spec_command_rebuilds_nothing_and_the_task_fails_for_good_naming_the_fix(spec):
    state, dbt_build = spec
    left_behind = sorted(r.unique_id for r in unfinished(dbt_build.tries[1]))
    error = dbt_build.errors[2]

    # Try 2 selected nothing; another try would select the same nothing, so it was the last try.
    assert (state, dbt_build.state, dbt_build.try_number) == ("failed", "failed", 2)
    assert isinstance(error, RetryLeftNodesBehind)
    assert f"did not select {len(left_behind)} nodes" in str(error)
    assert all(node in str(error) for node in left_behind[:20])
    assert "retry_command(" in str(error)
    # Its (empty) results are not stored: a clear after the fix retries from try 1's results.
    assert list(dbt_build.tries) == [1]


@pytest.fixture(scope="module")
def model_error(dag_runner, project_with_a_bad_row, robust, spec):
    """A second run of the robust DAG, whose first try fails in a model."""
    state, tasks = dag_runner.run(ROBUST_DAG, DBT_FORCE_FAILURE="int_order_items_priced")
    return state, tasks["dbt_build"]


def test_model_error_retries_the_same_nodes_as_the_spec_command(model_error):
    state, dbt_build = model_error
    errored = {r.unique_id for r in dbt_build.tries[1] if r.status == "error"}

    # The spec's `result:error+` selects exactly this (tests/integration/test_retry_dbt_failures.py).
    assert state == "success"
    assert {r.unique_id for r in dbt_build.tries[2]} == descendants(dbt_build.manifest, errored)


def test_a_new_dag_run_starts_afresh_with_a_full_build(model_error, robust):
    _, dbt_build = model_error
    _, earlier_run = robust

    assert dbt_build.key.upload_tag != earlier_run.key.upload_tag
    assert {r.unique_id for r in dbt_build.tries[1]} == {r.unique_id for r in earlier_run.tries[1]}


def dbt_ls(project, state_dir, selection):
    """The unique_ids that `dbt ls -s <selection> --state <state_dir>` selects."""
    profiles = state_dir / "profiles"
    profiles.mkdir()
    output = {"type": "duckdb", "path": str(state_dir / "ls.duckdb")}
    profile = {profile_name(project): {"target": "default", "outputs": {"default": output}}}
    (profiles / "profiles.yml").write_text(json.dumps(profile))  # JSON is YAML
    workdir = make_working_copy(project, state_dir / "project")
    path = os.pathsep.join([os.path.dirname(sys.executable), os.environ["PATH"]])
    ls = ["dbt", "ls", "-q", "--output", "json", "--output-keys", "unique_id", "-s", selection]
    out = subprocess.run(
        [*ls, "--state", str(state_dir)],
        cwd=workdir,
        env={**os.environ, "DBT_PROFILES_DIR": str(profiles), "PATH": path},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {json.loads(line)["unique_id"] for line in out.splitlines() if line.startswith("{")}


def test_the_spec_commands_hole_after_a_failed_test_is_still_there(
    robust, dag_runner, project_with_a_bad_row, tmp_path
):
    """Pins dbt's semantics: if an upgrade makes `result:error+` select failed tests, this fails."""
    _, dbt_build = robust
    first_try = dag_runner.store.read_bytes(dbt_build.key, 1, "run_results.json")
    (tmp_path / "run_results.json").write_bytes(first_try)

    assert failed_tests(dbt_build.tries[1])
    assert dbt_ls(project_with_a_bad_row, tmp_path, "result:error+") == set()

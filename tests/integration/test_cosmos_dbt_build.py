"""The Cosmos example end to end: one task per dbt node, a forced failure on one node's first try,
Airflow's per-task retry, green at the end. Expected task sets come from dbt's manifest."""

import json

import pytest

from orchestrate.config import dbt_project_dir
from orchestrate.dbt_project import DbtProject
from orchestrate.dbt_results import descendants
from orchestrate.manifest import manifest_path

# One dbt process per node: about two minutes. `make test-all` runs it.
pytestmark = [pytest.mark.integration, pytest.mark.slow]

DAG_ID = "cosmos_dbt_build"
FAILED_MODEL = f"model.{DbtProject.load(dbt_project_dir()).name}.int_order_items_priced"
BUILT = ("model", "seed", "snapshot")  # the nodes Cosmos gives a task each (tests run inside them)


def tasked_nodes(manifest: bytes) -> set[str]:
    """The nodes with a task: models, seeds, snapshots, and tests of more than one node (run after all of them)."""
    nodes = json.loads(manifest)["nodes"].values()
    return {
        node["unique_id"]
        for node in nodes
        if node["resource_type"] in BUILT or (node["resource_type"] == "test" and len(node["depends_on"]["nodes"]) > 1)
    }


@pytest.fixture(scope="module")
def manifest() -> bytes:
    return manifest_path().read_bytes()


@pytest.fixture(scope="module")
def failed_then_retried(dag_runner, dagbag):
    """One run whose FAILED_MODEL task fails on its first try; returns (state, tries by node)."""
    dag = dagbag.get_dag(DAG_ID)
    node_of = {task.task_id: task.extra_context["dbt_node_config"]["unique_id"] for task in dag.tasks}
    state, tasks = dag_runner.run(DAG_ID, DBT_FORCE_FAILURE=FAILED_MODEL.rsplit(".", 1)[1])
    return state, {node_of[task_id]: (task.state, task.try_number) for task_id, task in tasks.items()}


def test_every_model_seed_and_test_of_two_models_is_a_task_of_its_own(failed_then_retried, manifest):
    assert set(failed_then_retried[1]) == tasked_nodes(manifest)
    assert any(node.startswith("test.") for node in failed_then_retried[1])


def test_only_the_failed_nodes_task_is_retried_and_the_run_ends_green(failed_then_retried):
    state, tasks = failed_then_retried

    assert state == "success"
    assert {node for node, (_, tries) in tasks.items() if tries > 1} == {FAILED_MODEL}
    assert {task_state for task_state, _ in tasks.values()} == {"success"}


def test_the_tasks_downstream_of_the_failure_waited_for_the_retry(failed_then_retried, manifest):
    tasks = failed_then_retried[1]
    downstream = (descendants(manifest, {FAILED_MODEL}) & set(tasks)) - {FAILED_MODEL}

    # Had they run after the first try failed, they would be upstream_failed, not green on try 1.
    assert downstream
    assert {tasks[node] for node in downstream} == {("success", 1)}


def test_warehouse_is_complete_after_the_retry(failed_then_retried, dag_runner):
    assert failed_then_retried[0] == "success"
    for mart, (built, landed) in dag_runner.mart_rows_and_landed_rows().items():
        assert built == landed, mart

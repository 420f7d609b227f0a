"""One command on every try, through the classic operator, with real dbt: each retry starts from
the earlier try's partial parse and still finds the seed's CSV where its own working copy has it."""

import json

import pytest

from orchestrate.config import dbt_project_dir
from orchestrate.dbt_project import DbtProject

pytestmark = pytest.mark.integration

FAILED_MODEL = f"model.{DbtProject.load(dbt_project_dir()).name}.int_order_payments"  # below the seed payment_methods


def ancestors_and_their_tests(manifest: bytes, unique_id: str) -> set[str]:
    """What `-s +<model> --indirect-selection cautious` selects: the model, the nodes above it (not
    sources) and the tests all of whose parents are among them or are sources."""
    graph = json.loads(manifest)
    selected, todo = set(), [unique_id]
    while todo:
        node = todo.pop()
        if node not in selected and not node.startswith("source."):
            selected.add(node)
            todo.extend(graph["parent_map"].get(node, []))
    tests = {
        uid
        for uid, parents in graph["parent_map"].items()
        if uid.startswith("test.") and set(parents) & selected and set(parents) <= selected | set(graph["sources"])
    }
    return selected | tests


@pytest.fixture(scope="module")
def failed_then_retried(dag_runner):
    state, tasks = dag_runner.run("dbt_build_every_try", DBT_FORCE_FAILURE=FAILED_MODEL.rsplit(".", 1)[1])
    return state, tasks["dbt_build"]


def test_the_retry_reloads_the_seed_and_ends_green(failed_then_retried):
    state, dbt_build = failed_then_retried
    selection = ancestors_and_their_tests(dbt_build.manifest, FAILED_MODEL)

    assert (state, dbt_build.try_number) == ("success", 2)
    assert {r.unique_id for r in dbt_build.tries[1] if r.status == "error"} == {FAILED_MODEL}
    for try_number in (1, 2):
        assert {r.unique_id for r in dbt_build.tries[try_number]} == selection
    assert {r.status for r in dbt_build.tries[2]} <= {"success", "pass"}


def test_the_retry_parsed_from_the_first_trys_partial_parse(failed_then_retried, dag_runner):
    _, dbt_build = failed_then_retried
    logs = {n: dag_runner.store.read_bytes(dbt_build.key, n, "dbt.log").decode() for n in (1, 2)}

    assert "Starting full parse" in logs[1]
    assert "Starting full parse" not in logs[2]
    assert "Unable to do partial parsing" not in logs[2]

"""A dbt project that nobody here wrote (tests/integration/projects/analytics): its own target,
log and packages paths, a local package beside it by a relative path, packages not installed.
The retry re-runs exactly the failed subtree, computed from the manifest, and neither the project
nor the package beside it is ever written."""

import pytest

from orchestrate.config import REPO_ROOT
from orchestrate.dbt_results import descendants

pytestmark = pytest.mark.integration

PROJECTS = REPO_ROOT / "tests" / "integration" / "projects"
FAILED_MODEL = "invoices_usd"


def files_under(folder):
    return {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()}


@pytest.fixture(scope="module")
def before():
    return files_under(PROJECTS)


@pytest.fixture(scope="module")
def failed_then_retried(dag_runner, before):
    state, tasks = dag_runner.run("other_project", DBT_FORCE_FAILURE=FAILED_MODEL)
    return state, tasks["dbt_build"]


def test_the_first_try_fails_in_the_packages_macro_and_the_retry_ends_green(failed_then_retried):
    state, dbt_build = failed_then_retried

    assert (state, dbt_build.try_number) == ("success", 2)
    errored = [r for r in dbt_build.tries[1] if r.status == "error"]
    assert [r.unique_id for r in errored] == [f"model.analytics.{FAILED_MODEL}"]
    assert "shared_macros failed model invoices_usd on purpose" in errored[0].message


def test_the_retry_reruns_exactly_the_failed_subtree(failed_then_retried):
    _, dbt_build = failed_then_retried
    errored = {r.unique_id for r in dbt_build.tries[1] if r.status == "error"}

    retried = {r.unique_id for r in dbt_build.tries[2]}

    assert retried == descendants(dbt_build.manifest, errored)
    assert retried < {r.unique_id for r in dbt_build.tries[1]}
    assert {r.status for r in dbt_build.tries[2]} <= {"success", "pass"}


def test_neither_the_project_nor_the_package_beside_it_is_written(failed_then_retried, before):
    assert files_under(PROJECTS) == before
    assert not (PROJECTS / "analytics" / "build").exists()
    assert not (PROJECTS / "analytics" / "vendored").exists()

"""`dbt deps` with real dbt: packages are installed into the try's working copy, never the project."""

import pytest

from orchestrate.config import CONNECTION_ID
from orchestrate.operators.datacoves_dbt import DatacovesDbtOperator

pytestmark = pytest.mark.integration

GREET = "dbt_packages/shared_macros/macros/greet.sql"


@pytest.fixture
def project_with_a_local_package(tmp_path):
    package = tmp_path / "shared_macros"
    (package / "macros").mkdir(parents=True)
    (package / "dbt_project.yml").write_text("name: shared_macros\nversion: '1.0'\nconfig-version: 2\n")
    (package / "macros" / "greet.sql").write_text("{% macro greet() %}'hello'{% endmacro %}\n")
    project = tmp_path / "project"
    project.mkdir()
    (project / "dbt_project.yml").write_text("name: shop\nversion: '1.0'\nprofile: shop\n")
    (project / "packages.yml").write_text(f"packages:\n  - local: {package}\n")
    return project


def files_under(folder):
    return {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def test_missing_packages_are_installed_into_the_working_copy(project_with_a_local_package, run_try, tmp_path):
    before = files_under(project_with_a_local_package)
    task = DatacovesDbtOperator(
        task_id="t",
        connection_id=CONNECTION_ID,
        project_dir=project_with_a_local_package,
        bash_command=f"test -f {GREET}",
    )

    run_try(task)  # fails unless dbt deps installed the package where the command runs

    assert files_under(project_with_a_local_package) == before  # no dbt_packages/, no package-lock.yml


def test_run_dbt_deps_reinstalls_packages_the_project_already_has(project_with_a_local_package, run_try):
    installed = project_with_a_local_package / "dbt_packages"
    (installed / "stale").mkdir(parents=True)
    before = files_under(project_with_a_local_package)
    task = DatacovesDbtOperator(
        task_id="t",
        connection_id=CONNECTION_ID,
        project_dir=project_with_a_local_package,
        run_dbt_deps=True,
        bash_command=f"test -f {GREET} && test ! -e dbt_packages/stale",
    )

    run_try(task)

    assert files_under(project_with_a_local_package) == before
    assert (installed / "stale").is_dir()


def test_installed_packages_are_used_as_they_are(project_with_a_local_package, run_try):
    (project_with_a_local_package / "dbt_packages" / "stale").mkdir(parents=True)
    task = DatacovesDbtOperator(
        task_id="t",
        connection_id=CONNECTION_ID,
        project_dir=project_with_a_local_package,
        bash_command="test -d dbt_packages/stale && test ! -e dbt_packages/shared_macros",
    )

    run_try(task)  # dbt deps did not run: the project's own packages are there, untouched

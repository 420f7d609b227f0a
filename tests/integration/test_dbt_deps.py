"""`dbt deps` runs before the command when the project has packages and they are missing."""

import pytest

from orchestrate.decorators.datacoves_dbt import DatacovesDbtOperator
from orchestrate.working_copy import make_working_copy

pytestmark = pytest.mark.integration


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


def test_missing_packages_are_installed_into_the_working_copy(project_with_a_local_package, tmp_path):
    op = DatacovesDbtOperator(task_id="dbt_build", python_callable=lambda: "dbt build")
    workdir = make_working_copy(project_with_a_local_package, tmp_path / "work")

    op._dbt_deps_if_needed({"run_id": "manual__1"}, workdir)

    assert (workdir / "dbt_packages" / "shared_macros" / "macros" / "greet.sql").is_file()
    assert not (project_with_a_local_package / "dbt_packages").exists()
    assert not (project_with_a_local_package / "package-lock.yml").exists()  # dbt wrote the copy's


def test_installed_packages_are_not_installed_again(project_with_a_local_package, tmp_path):
    (project_with_a_local_package / "dbt_packages").mkdir()
    op = DatacovesDbtOperator(task_id="dbt_build", python_callable=lambda: "dbt build")
    workdir = make_working_copy(project_with_a_local_package, tmp_path / "work")

    op._dbt_deps_if_needed({"run_id": "manual__1"}, workdir)

    assert list((workdir / "dbt_packages").iterdir()) == []

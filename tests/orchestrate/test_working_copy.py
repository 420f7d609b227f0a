import pytest

from orchestrate.working_copy import make_working_copy


@pytest.fixture
def project(tmp_path):
    project = tmp_path / "transform"
    (project / "models").mkdir(parents=True)
    (project / "models" / "orders.sql").write_text("select 1 as id")
    (project / "dbt_project.yml").write_text("name: shop\nprofile: shop\n")
    (project / "package-lock.yml").write_text("packages: []\n")
    (project / "target").mkdir()
    (project / "target" / "run_results.json").write_text("{}")
    return project


def test_copy_reads_the_project(project, tmp_path):
    copy = make_working_copy(project, tmp_path / "copy")

    assert (copy / "models" / "orders.sql").read_text() == "select 1 as id"
    assert (copy / "dbt_project.yml").read_text() == (project / "dbt_project.yml").read_text()


def test_copy_starts_without_dbt_output(project, tmp_path):
    copy = make_working_copy(project, tmp_path / "copy")

    assert not (copy / "target").exists()
    assert not (copy / "logs").exists()


def test_writing_in_the_copy_leaves_the_project_untouched(project, tmp_path):
    before = {p: p.read_bytes() for p in project.rglob("*") if p.is_file()}
    copy = make_working_copy(project, tmp_path / "copy")

    (copy / "target").mkdir()
    (copy / "target" / "run_results.json").write_text('{"new": true}')
    (copy / "package-lock.yml").write_text("packages: [changed]\n")

    assert {p: p.read_bytes() for p in project.rglob("*") if p.is_file()} == before

"""`copier update` brings a later template version into a project and keeps the user's own edits.

The project is made from v1.0.0 and committed; the user edits transform/dbt_project.yml (a marked
file: its names were swapped); the template then changes dags/retry_dbt_failures.py (marked too)
and adds a file, and is tagged v1.1.0. The update must bring both, keep the edit and the answers,
and leave no conflict.
"""

from __future__ import annotations

import pytest
import yaml

from proof.copier.projects import POSTGRES_WITHOUT_COSMOS, commit_all, copier, generate, git, make_template

pytestmark = pytest.mark.copier

CONNECTION_LINE = 'connection_id="warehouse",'  # the template's own, in dags/retry_dbt_failures.py
NEW_LINE = "        upload_sources_json=False,\n"  # what the template adds after it
NEW_FILE = "dags/README.md"


def replace_once(path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} is not once in {path}: the test needs a new anchor"
    path.write_text(text.replace(old, new))


@pytest.fixture(scope="module")
def updated(tmp_path_factory):
    """The project after `copier update`, and what `git status` says changed."""
    template = make_template(tmp_path_factory.mktemp("template"))
    project = generate(template, tmp_path_factory.mktemp("project") / "acme", POSTGRES_WITHOUT_COSMOS)
    git("init", "-q", cwd=project)
    commit_all(project, "Start from the template")

    replace_once(project / "transform" / "dbt_project.yml", 'version: "1.0.0"', 'version: "1.1.0"')
    commit_all(project, "Our own version")

    dag = template / "dags" / "retry_dbt_failures.py"
    lines = dag.read_text().splitlines(keepends=True)
    (at,) = [n for n, line in enumerate(lines) if CONNECTION_LINE in line]
    dag.write_text("".join([*lines[: at + 1], NEW_LINE, *lines[at + 1 :]]))
    (template / NEW_FILE).write_text(
        "# DAG files\n\nOne DAG a file; `tests/dags/` holds every one to the house rules.\n"
    )
    commit_all(template, "A template change")
    git("tag", "v1.1.0", cwd=template)

    copier("update", "--trust", "--defaults", "--quiet", cwd=project)
    changed = {line[3:] for line in git("status", "--porcelain", "--untracked-files=all", cwd=project).splitlines()}
    return project, changed


def test_the_template_change_arrives_with_the_projects_names(updated):
    project, changed = updated
    dag = (project / "dags" / "retry_dbt_failures.py").read_text()

    assert changed == {".copier-answers.yml", "dags/retry_dbt_failures.py", NEW_FILE}
    assert f'connection_id="{POSTGRES_WITHOUT_COSMOS["connection_id"]}",\n{NEW_LINE}' in dag
    assert (project / NEW_FILE).is_file()


def test_the_users_edit_survives_and_nothing_conflicts(updated):
    project, _ = updated
    dbt_project = yaml.safe_load((project / "transform" / "dbt_project.yml").read_text())
    files = [path for path in project.rglob("*") if path.is_file() and ".git" not in path.parts]

    assert (dbt_project["version"], dbt_project["name"]) == ("1.1.0", POSTGRES_WITHOUT_COSMOS["project_slug"])
    assert [path for path in files if path.suffix == ".rej" or "<<<<<<<" in path.read_text()] == []


def test_the_answers_file_records_the_new_version_and_the_same_answers(updated):
    project, _ = updated
    recorded = yaml.safe_load((project / ".copier-answers.yml").read_text())

    assert recorded["_commit"] == "v1.1.0"
    assert {name: recorded[name] for name in POSTGRES_WITHOUT_COSMOS} == POSTGRES_WITHOUT_COSMOS

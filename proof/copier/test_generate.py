"""`copier copy` makes a project of the user's own: renamed where it matters, without what proves
the template, every other file as it is here. Two answer sets, neither with a template name in it."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from proof.copier.projects import DUCKDB_WITH_COSMOS, POSTGRES_WITHOUT_COSMOS, generate

pytestmark = pytest.mark.copier

ANSWER_SETS = {"duckdb-with-cosmos": DUCKDB_WITH_COSMOS, "postgres-without-cosmos": POSTGRES_WITHOUT_COSMOS}
# What proves the template, or makes it one: in no generated project.
TEMPLATE_ONLY = [".ci", ".copier", "benchmarks", "proof", "copier.yml", "requirements-proof.in"]
KEPT = [
    *("dags", "orchestrate", "transform", "tests/orchestrate", "tests/dags", "tests/integration", "scripts"),
    *("Makefile", ".pre-commit-config.yaml", "requirements.in", "requirements.txt", "pyproject.toml"),
    *("README.md", ".github/workflows/ci.yml", ".copier-answers.yml"),
]
CONNECTION_TYPES = {"postgres": "postgres", "snowflake": "snowflake", "bigquery": "google_cloud_platform"}
MARK = re.compile(r"copier:\s*(swap|endswap|if|elif|else|endif|uncomment)\b")
# The project's own orchestrate package (run from its folder), not this repository's.
LOCAL_NAMES = """
import json
from orchestrate import config, local_env
from orchestrate.get_provider_info import get_provider_info
print(json.dumps({"connection_id": config.CONNECTION_ID, "env": sorted(local_env.environment()),
                  "provider": get_provider_info()}))
"""


@pytest.fixture(scope="module", params=ANSWER_SETS, ids=list(ANSWER_SETS))
def made(request, template, tmp_path_factory) -> tuple[Path, dict]:
    """A project made with one answer set, and the answers."""
    answers = ANSWER_SETS[request.param]
    project = generate(template, tmp_path_factory.mktemp(request.param) / answers["project_slug"], answers)
    return project, answers


def files(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


def text(root: Path, name: str) -> str:
    return (root / name).read_text()


def default_args_calls(path: Path) -> list[dict[str, object]]:
    """The keyword arguments of each set_default_args(...) call in a DAG file."""
    return [
        {keyword.arg: ast.literal_eval(keyword.value) for keyword in node.keywords}
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "set_default_args"
    ]


def test_what_proves_the_template_is_left_out_and_the_project_is_kept(made):
    project, _ = made

    assert [name for name in TEMPLATE_ONLY if (project / name).exists()] == []
    assert not list(project.glob("requirements-proof*"))
    assert [name for name in KEPT if not (project / name).exists()] == []


def test_no_file_points_to_what_was_left_out(made):
    project, _ = made
    left_out = re.compile(r"\b(proof|benchmarks|\.ci|\.copier)/|requirements-proof|make bench\b")

    assert [name for name in files(project) if left_out.search(text(project, name))] == []


def test_the_cosmos_example_and_its_test_are_there_only_when_asked_for(made):
    project, answers = made
    cosmos = ["dags/cosmos_dbt_build.py", "tests/integration/test_cosmos_dbt_build.py"]

    assert [(project / name).exists() for name in cosmos] == [answers["include_cosmos_example"]] * 2
    assert ("cosmos_dbt_build.py" in text(project, "README.md")) == answers["include_cosmos_example"]


def test_no_copier_mark_is_left_in_any_file(made):
    project, _ = made

    assert [name for name in files(project) if MARK.search(text(project, name))] == []


def test_every_file_without_a_mark_is_copied_byte_for_byte(made, template):
    project, answers = made
    unmarked = [
        name for name in files(project) if (template / name).is_file() and "copier:" not in text(template, name)
    ]
    if answers["warehouse"] != "duckdb":
        unmarked.remove("requirements.txt")  # copier's task locks the adapter into it
    changed = [name for name in unmarked if (project / name).read_bytes() != (template / name).read_bytes()]

    assert {"transform/macros/force_failure.sql", "orchestrate/operators/datacoves_dbt.py"} < set(unmarked)
    assert changed == []


def test_the_dbt_project_and_its_profile_are_named_after_the_project(made):
    project, answers = made
    dbt_project = yaml.safe_load(text(project, "transform/dbt_project.yml"))

    assert dbt_project["name"] == dbt_project["profile"] == answers["project_slug"]
    assert set(dbt_project["models"]) == set(dbt_project["seeds"]) == {answers["project_slug"]}


def test_the_dags_and_the_local_environment_use_the_answered_connection(made):
    project, answers = made
    local = json.loads(subprocess.check_output([sys.executable, "-c", LOCAL_NAMES], cwd=project))
    literals = {dag.name: re.findall(r'connection_id="([^"]*)"', dag.read_text()) for dag in project.glob("dags/*.py")}

    assert local["connection_id"] == answers["connection_id"]
    assert [name for name in local["env"] if name.startswith("AIRFLOW_CONN_")] == [
        f"AIRFLOW_CONN_{answers['connection_id'].upper()}"
    ]
    assert {name: found for name, found in literals.items() if found} == {
        "retry_dbt_failures.py": [answers["connection_id"]],
        "retry_dbt_failures_and_tests.py": [answers["connection_id"]],
    }


def test_the_dags_default_args_name_the_answered_owner(made):
    project, answers = made
    calls = [call for dag in sorted(project.glob("dags/*.py")) for call in default_args_calls(dag)]

    assert len(calls) == len(list(project.glob("dags/*.py")))
    assert {json.dumps(call) for call in calls} == {json.dumps({k: answers[k] for k in ("owner", "owner_email")})}


def test_the_package_and_its_airflow_provider_are_named_after_the_project(made):
    project, answers = made
    distribution = tomllib.loads(text(project, "pyproject.toml"))["project"]["name"]
    provider = json.loads(subprocess.check_output([sys.executable, "-c", LOCAL_NAMES], cwd=project))["provider"]

    assert distribution == provider["package-name"] == answers["project_slug"].replace("_", "-")
    assert provider["name"] == answers["project_slug"].replace("_", " ")


def test_the_readme_is_the_projects_own(made):
    project, answers = made
    readme = text(project, "README.md")

    assert readme.startswith(f"# {answers['project_slug']}: ")
    assert f'connection_id="{answers["connection_id"]}"' in readme
    assert f"AIRFLOW_CONN_{answers['connection_id'].upper()}" in readme
    assert f"model.{answers['project_slug']}." in readme
    template_words = ["AIRFLOW_CONN_WAREHOUSE", "benchmarks/", "proof/", "copier copy", "this template"]
    assert [words for words in template_words if words in readme] == []


def test_the_warehouses_adapter_is_required_and_locked_and_its_connection_shown(made):
    project, answers = made
    required = set(re.findall(r"^dbt-(\w+)", text(project, "requirements.in"), re.MULTILINE)) - {"core"}
    shown_in = {
        name: {
            warehouse for warehouse, kind in CONNECTION_TYPES.items() if f'"conn_type": "{kind}"' in text(project, name)
        }
        for name in ("README.md", "orchestrate/local_env.py")
    }
    expected_examples = set(CONNECTION_TYPES) if answers["warehouse"] == "duckdb" else {answers["warehouse"]}

    assert required == {"duckdb", answers["warehouse"]}
    assert re.search(rf"^dbt-{answers['warehouse']}==", text(project, "requirements.txt"), re.MULTILINE)
    assert shown_in == {"README.md": expected_examples, "orchestrate/local_env.py": expected_examples}


def test_the_makefile_has_no_target_of_the_templates_own(made):
    project, _ = made
    makefile = text(project, "Makefile")

    assert re.findall(r"^(bench|proof)\b", makefile, re.MULTILINE) == []
    assert [word for word in ("benchmarks", "proof") if word in makefile] == []


def test_the_answers_are_recorded_for_copier_update(made):
    project, answers = made
    recorded = yaml.safe_load(text(project, ".copier-answers.yml"))

    assert recorded["_commit"] == "v1.0.0"
    assert {name: recorded[name] for name in answers} == answers

"""Each bad input a DAG author can give gets an error naming the problem and the fix.

README.md's table "Bad input and what it says" is generated from these cases: when a message
changes, this test fails and prints the table to paste.
"""

import json
import re
from collections.abc import Callable

import pytest

from orchestrate.config import REPO_ROOT
from orchestrate.dbt_api import TaskKey, resolve_expected_files
from orchestrate.decorators.datacoves_dbt import DatacovesDbtOperator
from orchestrate.profiles import profile_name, render_profile
from orchestrate.utils.datacoves_utils import retry_command, set_schedule

CONNECTIONS = {
    "AIRFLOW_CONN_FTP_SERVER": {"conn_type": "ftp", "host": "files.example.com"},
    "AIRFLOW_CONN_NO_PATH": {"conn_type": "duckdb"},
}


def command_of(returned):
    def dbt_build():
        return returned

    op = DatacovesDbtOperator(task_id="dbt_build", python_callable=dbt_build)
    return op._dbt_command({"run_id": "manual__1"}, REPO_ROOT / "transform")


def profile_without_connection(tmp_path):
    op = DatacovesDbtOperator(task_id="dbt_build", python_callable=lambda: "dbt build")
    return op._write_profile(tmp_path, tmp_path / "profiles")


def profile_name_of(tmp_path, project_yml=None):
    if project_yml is not None:
        (tmp_path / "dbt_project.yml").write_text(project_yml)
    return profile_name(tmp_path)


# (the input, as the README names it; a call that makes it, given a scratch folder)
CASES: list[tuple[str, Callable]] = [
    ("`connection_id` not set", profile_without_connection),
    ('unknown connection id `"nope"`', lambda tmp: render_profile("nope", "shop", "default")),
    ("a connection type with no dbt profile (`ftp`)", lambda tmp: render_profile("ftp_server", "shop", "default")),
    ("a DuckDB connection without a host", lambda tmp: render_profile("no_path", "shop", "default")),
    ("`project_dir` missing, or not a dbt project", profile_name_of),
    ("`dbt_project.yml` without `profile:`", lambda tmp: profile_name_of(tmp, "name: shop\n")),
    ("the function returns `None`", lambda tmp: command_of(None)),
    ('the function returns `""`', lambda tmp: command_of("")),
    ("the function returns a non-string (`42`)", lambda tmp: command_of(42)),
    ('`expected_files="run_results.json"`', lambda tmp: resolve_expected_files("run_results.json", tmp)),
    ('`expected_files=["/etc/passwd"]`', lambda tmp: resolve_expected_files(["/etc/passwd"], tmp)),
    ('`expected_files=["../run_results.json"]`', lambda tmp: resolve_expected_files(["../run_results.json"], tmp)),
    ('`upload_tag="daily/2026"`', lambda tmp: TaskKey("dag", "daily/2026", "dbt_build").parts()),
    ('`set_schedule("0 0 1 */12")`', lambda tmp: set_schedule("0 0 1 */12")),
    ('`retry_command("dbt build")`', lambda tmp: retry_command("dbt build")),
    ('`retry_command("dbt deps")`', lambda tmp: retry_command("dbt deps")),
]


@pytest.fixture
def connections(monkeypatch):
    for name, connection in CONNECTIONS.items():
        monkeypatch.setenv(name, json.dumps(connection))


def error_of(case, tmp_path) -> str:
    with pytest.raises((TypeError, ValueError, FileNotFoundError)) as raised:
        case(tmp_path)
    return f"{type(raised.value).__name__}: {raised.value}"


@pytest.mark.usefixtures("connections")
@pytest.mark.parametrize(("bad_input", "case"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_with_the_problem_and_the_fix(bad_input, case, tmp_path):
    message = error_of(case, tmp_path)

    assert len(message) > 40, message  # a sentence, not a bare exception


@pytest.mark.usefixtures("connections")
def test_readme_lists_every_bad_input_with_its_message(tmp_path_factory):
    rows = ["| input | message |", "| --- | --- |"]
    for bad_input, case in CASES:
        message = error_of(case, tmp_path_factory.mktemp("case"))
        message = re.sub(r"/\S*/case\d+", "<project>", message)
        rows.append(f"| {bad_input} | {message.replace('|', '/')} |")
    table = "\n".join(rows)

    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("<!-- bad-input-table -->")[1].split("<!-- /bad-input-table -->")[0].strip()

    assert section == table, f"README.md's bad input table is out of date; paste this:\n\n{table}\n"

"""Each bad input a DAG author can give gets an error naming the problem and the fix, before dbt runs.

README.md's table "Bad input and what it says" is made from these cases: when a message changes,
the test fails and prints the table to paste. A task's bad input is given to a real try (see
conftest.py), with an earlier try's results in the store: the try fails before dbt runs, and what
was stored stays as it was.
"""

import json
import re
from collections.abc import Callable

import pytest
from airflow.sdk.exceptions import AirflowFailException

from orchestrate.config import CONNECTION_ID, REPO_ROOT
from orchestrate.decorators.datacoves_dbt import _DatacovesDbtDecoratedOperator
from orchestrate.utils.datacoves_utils import retry_command, set_schedule

CONNECTIONS = {
    "AIRFLOW_CONN_FTP_SERVER": {"conn_type": "ftp", "host": "files.example.com"},
    "AIRFLOW_CONN_NO_PATH": {"conn_type": "duckdb"},
}


def task(returns="dbt build", **kwargs):
    """A @task.datacoves_dbt task whose function returns `returns`; `kwargs` go to the decorator."""

    def dbt_build(expected_files: list = []):  # noqa: B006 - the documented signature
        return returns

    op_kwargs = {"expected_files": kwargs.pop("expected_files")} if "expected_files" in kwargs else {}
    kwargs = {"connection_id": CONNECTION_ID, "dbt_api_enabled": True, **kwargs}
    return _DatacovesDbtDecoratedOperator(task_id="dbt_build", python_callable=dbt_build, op_kwargs=op_kwargs, **kwargs)


def project(tmp_path, dbt_project_yml=None):
    if dbt_project_yml is not None:
        (tmp_path / "dbt_project.yml").write_text(dbt_project_yml)
    return tmp_path


def no_dbt(tmp_path, patch):
    patch.setenv("PATH", str(tmp_path))
    patch.setattr("sys.executable", str(tmp_path / "python"))
    return task()


# (the input, as the README names it; what makes it, given a scratch folder and a MonkeyPatch:
# a task to run one try of, or a call that raises)
CASES: list[tuple[str, Callable]] = [
    ("`connection_id` not set", lambda tmp, mp: task(connection_id=None)),
    ('unknown connection id `"nope"`', lambda tmp, mp: task(connection_id="nope")),
    ("a connection type with no dbt profile (`ftp`)", lambda tmp, mp: task(connection_id="ftp_server")),
    ("a DuckDB connection without a host", lambda tmp, mp: task(connection_id="no_path")),
    ("`project_dir` missing, or not a dbt project", lambda tmp, mp: task(project_dir=project(tmp))),
    ("`dbt_project.yml` without `profile:`", lambda tmp, mp: task(project_dir=project(tmp, "name: shop\n"))),
    ("the function returns `None`", lambda tmp, mp: task(returns=None)),
    ('the function returns `""`', lambda tmp, mp: task(returns="")),
    ("the function returns a non-string (`42`)", lambda tmp, mp: task(returns=42)),
    ('`expected_files="run_results.json"`', lambda tmp, mp: task(expected_files="run_results.json")),
    ('`expected_files=["/etc/passwd"]`', lambda tmp, mp: task(expected_files=["/etc/passwd"])),
    ('`expected_files=["../run_results.json"]`', lambda tmp, mp: task(expected_files=["../run_results.json"])),
    ('`upload_tag="daily/2026"`', lambda tmp, mp: task(upload_tag="daily/2026")),
    ("dbt not installed where Airflow runs", no_dbt),
    ('`set_schedule("0 0 1 */12")`', lambda tmp, mp: set_schedule("0 0 1 */12")),
    ('`retry_command("dbt build")`', lambda tmp, mp: retry_command("dbt build")),
    ('`retry_command("dbt deps")`', lambda tmp, mp: retry_command("dbt deps")),
]


@pytest.fixture
def connections(monkeypatch):
    for name, connection in CONNECTIONS.items():
        monkeypatch.setenv(name, json.dumps(connection))


def error_of(case, tmp_path, run_try, earlier_try, store, first_try) -> str:
    """Make the case; for a task, run its second try over a stored first try. Return the error."""
    with pytest.MonkeyPatch.context() as patch:
        try:
            made = case(tmp_path, patch)
        except Exception as error:  # a call that refuses its input
            return f"{type(error).__name__}: {error}"
        key = earlier_try(made, 1, first_try)
        with pytest.raises(Exception) as raised:  # noqa: PT011 - the type and message are the table's
            run_try(made, try_number=2)
    # A retry cannot help: the task fails at once. It failed before dbt ran: try 2 stored nothing,
    # and try 1's files are as they were.
    assert isinstance(raised.value, AirflowFailException)
    assert store.tries(key) == [1]
    assert {name: store.read_bytes(key, 1, name) for name in first_try} == first_try
    return f"{type(raised.value).__name__}: {raised.value}"


@pytest.mark.usefixtures("connections")
def test_readme_lists_every_bad_input_with_its_message(tmp_path_factory, run_try, earlier_try, store, run_results):
    first_try = {"run_results.json": run_results(("model.shop.orders", "error"))}
    rows = ["| input | message |", "| --- | --- |"]
    for bad_input, case in CASES:
        scratch = tmp_path_factory.mktemp("case")
        message = error_of(case, scratch, run_try, earlier_try, store, first_try)
        message = re.sub(r"/\S*/case\d+", "<project>", message)
        rows.append(f"| {bad_input} | {message.replace('|', '/')} |")
    table = "\n".join(rows)

    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("<!-- bad-input-table -->")[1].split("<!-- /bad-input-table -->")[0].strip()

    assert section == table, f"README.md's bad input table is out of date; paste this:\n\n{table}\n"

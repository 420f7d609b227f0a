"""The operator's own steps, called directly. The Airflow task context is a plain dict here
(a fake at the boundary); the DAG runs in tests/integration use the real one."""

import json
import os
import stat
from pathlib import Path

import pytest

from orchestrate.dbt_api import DbtApiStore, TaskKey
from orchestrate.decorators.datacoves_dbt import (
    NO_STDIN,
    SCRATCH_PREFIX,
    DatacovesDbtOperator,
    StoreError,
    remove_orphaned_scratch_dirs,
)
from orchestrate.profiles import ProfileError

CANARY = "canary-password-5c2f"
KEY = TaskKey("dag", "manual__2026-01-01T00:00:00+00:00", "dbt_build")


def context():
    """The few context keys these steps read; Airflow's context_merge ignores an empty one."""
    return {"run_id": "manual__2026-01-01T00:00:00+00:00"}


def operator(function, **kwargs):
    return DatacovesDbtOperator(task_id="dbt_build", python_callable=function, **kwargs)


def build(expected_files: list = []):  # noqa: B006 - the documented signature
    return "dbt build -s result:error+ --state logs" if expected_files else "dbt build"


@pytest.mark.parametrize("returned", [None, "", "   ", 42, ["dbt", "build"]])
def test_function_must_return_a_command(tmp_path, returned):
    op = operator(lambda: returned)

    with pytest.raises(TypeError, match="must return the dbt command"):
        op._dbt_command(context(), tmp_path)


def test_command_is_what_the_function_returns(tmp_path):
    assert operator(build)._dbt_command(context(), tmp_path) == "dbt build"


def test_retry_branch_runs_when_the_expected_files_were_downloaded(tmp_path):
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "run_results.json").write_text("{}")
    op = operator(build, dbt_api_enabled=True, op_kwargs={"expected_files": ["run_results.json"]})

    assert op._dbt_command(context(), tmp_path) == "dbt build -s result:error+ --state logs"


def test_first_try_branch_runs_when_nothing_was_downloaded(tmp_path):
    op = operator(build, dbt_api_enabled=True, op_kwargs={"expected_files": ["run_results.json"]})

    assert op._dbt_command(context(), tmp_path) == "dbt build"


def test_expected_files_are_empty_when_the_dbt_api_is_off(tmp_path):
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "run_results.json").write_text("{}")
    op = operator(build, dbt_api_enabled=False, op_kwargs={"expected_files": ["run_results.json"]})

    assert op._dbt_command(context(), tmp_path) == "dbt build"


def test_expected_files_must_be_a_list(tmp_path):
    op = operator(build, dbt_api_enabled=True, op_kwargs={"expected_files": "run_results.json"})

    with pytest.raises(TypeError, match="expected_files must be a list"):
        op._dbt_command(context(), tmp_path)


def test_missing_dbt_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr("sys.executable", str(tmp_path / "python"))

    with pytest.raises(FileNotFoundError, match="dbt is not installed"):
        operator(build)._dbt_command(context(), tmp_path)


def test_multiple_outputs_is_ignored_with_a_warning():
    with pytest.warns(UserWarning, match="multiple_outputs"):
        op = operator(build, multiple_outputs=True)

    assert op.multiple_outputs is False


@pytest.fixture
def postgres_connection(monkeypatch):
    connection = {
        "conn_type": "postgres",
        "host": "db",
        "login": "dbt",
        "password": CANARY,
        "schema": "public",
    }
    monkeypatch.setenv("AIRFLOW_CONN_POSTGRES_WAREHOUSE", json.dumps(connection))


@pytest.mark.usefixtures("postgres_connection")
def test_profile_is_private_and_holds_no_secret(tmp_path):
    op = operator(build, connection_id="postgres_warehouse", overrides={"dbname": "analytics"})
    project = tmp_path / "project"
    project.mkdir()
    (project / "dbt_project.yml").write_text("name: shop\nprofile: shop\n")

    env = op._write_profile(project, tmp_path / "profiles")

    profiles = tmp_path / "profiles" / "profiles.yml"
    assert stat.S_IMODE(profiles.stat().st_mode) == 0o600
    assert stat.S_IMODE(profiles.parent.stat().st_mode) == 0o700
    assert CANARY not in profiles.read_text()
    assert "dbname: analytics" in profiles.read_text()
    assert CANARY in env.values()
    assert env["DBT_PROFILES_DIR"] == str(profiles.parent)
    assert CANARY not in json.dumps(op.env or {})


def test_connection_id_is_required(tmp_path):
    with pytest.raises(ProfileError, match="needs connection_id"):
        operator(build)._write_profile(tmp_path, tmp_path / "profiles")


@pytest.mark.parametrize(
    "stored",
    [b"", b'{"metadata": {}, "results": [{"unique_id"', b'{"metadata": {"dbt_version": "1.5.0"}, "results": []}'],
    ids=["empty", "truncated", "other-dbt-version"],
)
def test_unusable_stored_results_fall_back_to_a_full_build(tmp_path, stored):
    store = DbtApiStore(str(tmp_path / "store"))
    previous = tmp_path / "previous"
    previous.mkdir()
    (previous / "run_results.json").write_bytes(stored)
    store.upload(KEY, 1, [previous / "run_results.json"])
    workdir = tmp_path / "work"
    expected = {"expected_files": ["run_results.json"]}
    op = operator(build, dbt_api_enabled=True, download_run_results=True, op_kwargs=expected)

    assert op._download(store, KEY, 2, workdir) is None
    assert op._dbt_command(context(), workdir) == "dbt build"
    assert store.read_bytes(KEY, 1, "run_results.json") == stored  # what was stored is kept


def test_a_killed_trys_folder_and_its_dbt_are_cleaned_up_by_the_next_try(tmp_path, monkeypatch):
    import subprocess

    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    dead_pid = 2**22 + 1  # above Linux's largest pid: no process has it
    orphan = tmp_path / f"{SCRATCH_PREFIX}{dead_pid}_x"
    (orphan / "project").mkdir(parents=True)
    alive = tmp_path / f"{SCRATCH_PREFIX}{os.getpid()}_y"
    alive.mkdir()
    # Stands in for a dbt left running by a killed try, working in that try's copy.
    left_running = subprocess.Popen(["sleep", "300"], cwd=orphan / "project")

    remove_orphaned_scratch_dirs()

    assert left_running.wait(timeout=10) == -9
    assert not orphan.exists()
    assert alive.exists()  # a try still running keeps its folder


def test_commands_get_no_stdin_so_a_killed_trys_dbt_cannot_hold_back_the_retry():
    import socket
    import subprocess

    # The task process's stdin is a socket to Airflow's supervisor, which waits for every holder to close it.
    supervisor_end, task_end = socket.socketpair()
    with supervisor_end, task_end:
        script = NO_STDIN + '[ -c /dev/stdin ] && [ ! -t 0 ] && [ -z "$(cat)" ]'  # /dev/null: reads end at once
        result = subprocess.run(["bash", "-c", script], stdin=task_end, timeout=60, check=False)

    assert result.returncode == 0


def test_a_store_that_cannot_be_written_fails_the_try_clearly_and_keeps_what_it_holds(tmp_path):
    store = DbtApiStore(str(tmp_path / "store"))
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / "run_results.json").write_text('{"results": []}')
    store.upload(KEY, 1, [earlier / "run_results.json"])
    # Try 2's folder cannot be made: a file sits where it would go (as a full or read-only disk would).
    Path(store.try_path(KEY, 2).path).write_text("")
    workdir = tmp_path / "work"
    (workdir / "target").mkdir(parents=True)
    (workdir / "target" / "run_results.json").write_text('{"results": [], "try": 2}')
    op = operator(build, dbt_api_enabled=True)

    with pytest.raises(StoreError, match="could not store its dbt artifacts .* DATACOVES__DBT_API_URL"):
        op._upload(store, KEY, 2, workdir)

    assert store.read_bytes(KEY, 1, "run_results.json") == b'{"results": []}'


def test_a_locked_duckdb_file_is_explained_in_the_summary(tmp_path):
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "dbt.log").write_text(
        'IO Error: Could not set lock on file "/data/warehouse.duckdb": Conflicting lock is held in python3\n'
    )

    report = operator(build)._report(tmp_path, 1, None)

    assert "one writer per file" in report["hint"]
    assert "own files" in report["hint"]

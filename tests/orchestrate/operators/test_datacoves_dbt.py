"""DatacovesDbtOperator, one try at a time through `execute()` (see conftest.py), with real bash.

dbt runs in tests/integration; here the commands are shell commands that show what a try gives
them: where they run, their environment, their stdin, what a template put into them.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from orchestrate import scratch
from orchestrate.config import CONNECTION_ID, REPO_ROOT, dbt_project_dir
from orchestrate.errors import RetryLeftNodesBehind
from orchestrate.operators.datacoves_bash import NO_STDIN
from orchestrate.operators.datacoves_dbt import DatacovesDbtOperator
from orchestrate.profiles import profile_name

CANARY = "canary-password-5c2f"


def operator(bash_command, **kwargs):
    return DatacovesDbtOperator(task_id="dbt_build", connection_id=CONNECTION_ID, bash_command=bash_command, **kwargs)


def test_the_command_runs_in_a_working_copy_of_the_project_with_a_private_profile(run_try, tmp_path):
    seen = tmp_path / "seen"
    seen.mkdir()

    run_try(operator(f"pwd > {seen}/cwd; echo $DBT_PROFILES_DIR > {seen}/profiles; cp -L dbt_project.yml {seen}/"))

    cwd, profiles = (Path((seen / name).read_text().strip()) for name in ("cwd", "profiles"))
    assert (seen / "dbt_project.yml").read_text() == (REPO_ROOT / "transform/dbt_project.yml").read_text()
    folder = profiles.parent  # the try's scratch folder: its profile and its copy of the project
    assert folder.parent == scratch.scratch_root()
    assert cwd == folder / "project" / "transform"
    assert not folder.exists()  # removed when the try ended


def test_every_try_of_a_task_instance_works_in_the_same_folder(run_try, tmp_path):
    folders = []
    for try_number in (1, 2):
        out = tmp_path / f"cwd-{try_number}"
        run_try(operator(f"pwd > {out}"), try_number)
        folders.append(out.read_text())

    assert folders[0] == folders[1]  # dbt's partial parse holds absolute paths: a retry can reuse it


def test_a_templated_value_reaches_the_shell_as_one_quoted_word(run_try, tmp_path):
    markers = [tmp_path / f"pwned-{i}" for i in range(3)]
    hostile = f"orders; touch {markers[0]} $(touch {markers[1]}) `touch {markers[2]}` {{{{ 7 * 7 }}}}"
    out = tmp_path / "argv.json"
    task = operator(
        f"""python -c 'import json, sys; json.dump(sys.argv[1:], open("{out}", "w"))' {{{{ params.select }}}}"""
    )

    run_try(task, params={"select": hostile})

    assert json.loads(out.read_text()) == [hostile]  # one word, `{{ 7 * 7 }}` as written
    assert [marker for marker in markers if marker.exists()] == []


def test_secrets_reach_the_command_in_its_environment_only(run_try, tmp_path, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_PG", json.dumps({"conn_type": "postgres", "host": "db", "login": "u", "password": CANARY})
    )
    task = DatacovesDbtOperator(
        task_id="t",
        connection_id="pg",
        overrides={"schema": "analytics", "dbname": "shop"},
        bash_command=f"env > {tmp_path}/env; cp $DBT_PROFILES_DIR/profiles.yml {tmp_path}/",
    )

    run_try(task)

    profile = (tmp_path / "profiles.yml").read_text()
    assert "dbname: shop" in profile
    assert CANARY not in profile
    env = (tmp_path / "env").read_text().splitlines()
    assert [line for line in env if CANARY in line and not line.startswith("AIRFLOW_CONN_PG=")] == [
        f"COSMOS_CONN_POSTGRES_PASSWORD={CANARY}"
    ]
    assert CANARY not in json.dumps(task.env or {})  # nor in what the UI shows


def test_commands_get_no_stdin_so_a_killed_trys_dbt_cannot_hold_back_the_retry():
    # The task process's stdin is a socket to Airflow's supervisor, which waits for every holder to close it.
    supervisor_end, task_end = socket.socketpair()
    with supervisor_end, task_end:
        script = NO_STDIN + '[ -c /dev/stdin ] && [ ! -t 0 ] && [ -z "$(cat)" ]'  # /dev/null: reads end at once
        result = subprocess.run(["bash", "-c", script], stdin=task_end, timeout=60, check=False)

    assert result.returncode == 0


def test_a_killed_trys_dbt_is_stopped_and_its_folder_removed_by_the_next_try(run_try, tmp_path):
    # Try 1's process is killed (SIGKILL) while its command runs; the command keeps running.
    started = tmp_path / "started"
    killed_try = textwrap.dedent(
        f"""
        import sys, types
        sys.path.insert(0, {str(REPO_ROOT)!r})
        from orchestrate.operators.datacoves_dbt import DatacovesDbtOperator
        ti = types.SimpleNamespace(dag_id="dag", task_id="t", run_id="r", try_number=1, map_index=-1)
        task = DatacovesDbtOperator(
            task_id="t", connection_id={CONNECTION_ID!r}, bash_command="touch {started}; sleep 300"
        )
        task.execute({{"ti": ti, "task_instance": ti, "run_id": "r", "task": task}})
        """
    )
    task_process = subprocess.Popen([sys.executable, "-c", killed_try])
    deadline = time.monotonic() + 60
    while not started.exists():  # waits for try 1's command to start
        assert task_process.poll() is None, "try 1 ended before its command started"
        assert time.monotonic() < deadline, "try 1's command did not start within 60 s"
        time.sleep(0.05)
    left_running = [p for p in _processes_in(scratch.scratch_root()) if "sleep" in p[1]]
    task_process.kill()
    task_process.wait()
    assert left_running, "try 1's command is not running in its folder"

    run_try(DatacovesDbtOperator(task_id="t2", connection_id=CONNECTION_ID, bash_command="true"))

    assert _processes_in(scratch.scratch_root()) == []
    assert [folder.name for folder in scratch.scratch_root().iterdir()] == []


def _processes_in(folder: Path) -> list[tuple[int, str]]:
    import psutil

    found = []
    for process in psutil.process_iter(["cwd", "cmdline"]):
        if process.info["cwd"] and process.info["cwd"].startswith(f"{folder}{os.sep}"):
            found.append((process.pid, " ".join(process.info["cmdline"] or [])))
    return found


@pytest.mark.parametrize("argument", [{"cwd": "/srv"}, {"output_processor": str}])
def test_arguments_that_cannot_apply_are_ignored_with_a_warning(argument):
    with pytest.warns(UserWarning, match=f"ignores {next(iter(argument))}="):
        task = operator("dbt debug", **argument)

    assert task.cwd is None


@pytest.fixture
def retry_that_writes(run_results, tmp_path):
    """A retry's command that writes `nodes` as dbt's target/run_results.json, after a first try that
    left model.a errored and model.b skipped."""

    def command(*nodes) -> str:
        written = tmp_path / "written.json"
        written.write_bytes(run_results(*nodes))
        return f"mkdir -p target && cp {written} target/run_results.json"

    first_try = {"run_results.json": run_results(("model.a", "error"), ("model.b", "skipped"), ("model.c", "success"))}
    return command, first_try


def test_a_retry_that_leaves_unfinished_nodes_unselected_fails_for_good(run_try, earlier_try, store, retry_that_writes):
    from airflow.sdk.exceptions import AirflowFailException

    command, first_try = retry_that_writes
    task = operator(command(("model.a", "success")), dbt_api_enabled=True, download_run_results=True)
    key = earlier_try(task, 1, first_try)

    with pytest.raises(RetryLeftNodesBehind, match=r"did not select 1 nodes .*: model\.b\. .*retry_command") as raised:
        run_try(task, try_number=2)

    assert isinstance(raised.value, AirflowFailException)  # no more tries: the same command selects the same
    assert not (store.try_path(key, 2) / "run_results.json").exists()  # a later try retries from try 1


def test_allow_partial_retry_ends_green_and_warns(run_try, earlier_try, store, retry_that_writes, capfd):
    command, first_try = retry_that_writes
    task = operator(
        command(("model.a", "success")), dbt_api_enabled=True, download_run_results=True, allow_partial_retry=True
    )
    key = earlier_try(task, 1, first_try)

    report = run_try(task, try_number=2)

    assert report["not_rerun"] == ["model.b"]
    assert "1 nodes that did not succeed on the previous try were not run by this retry" in capfd.readouterr().out
    assert (store.try_path(key, 2) / "run_results.json").exists()


def test_a_try_whose_dbt_wrote_no_results_says_the_retry_will_build_everything(run_try, capfd):
    task = operator("true", dbt_api_enabled=True, download_run_results=True)

    report = run_try(task)

    assert (report["ran"], report["nodes"]) == (False, 0)
    assert "a retry of this task will have no results to start from" in capfd.readouterr().out


def test_overrides_are_templated_and_dbt_env_var_is_left_for_dbt(run_try, tmp_path):
    task = operator(
        f"cp $DBT_PROFILES_DIR/profiles.yml {tmp_path}/",
        overrides={"schema": "{{ params.schema }}", "database": "{{ env_var('DATACOVES__MAIN__DATABASE') }}"},
    )

    run_try(task, params={"schema": "manual_refresh"})

    profile = yaml.safe_load((tmp_path / "profiles.yml").read_text())[profile_name(dbt_project_dir())]
    output = profile["outputs"]["default"]
    assert output["schema"] == "manual_refresh"
    assert output["database"] == "{{ env_var('DATACOVES__MAIN__DATABASE') }}"  # dbt renders it

"""SIGKILL a dbt task's process at points across its tries, under a real scheduler.

Each trial waits for the next try to be running, lets it work for a chosen time (task start-up,
the download, dbt starting, parsing, building) and kills the task process. Airflow's own retry
machinery starts the next try. Afterwards: the run is green, nothing stored is torn, the last try
retried from the newest complete results and says so, and no killed try's dbt is left running.
"""

from __future__ import annotations

import json
import signal
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from orchestrate.dbt_api import TaskKey
from orchestrate.dbt_results import descendants, node_results
from orchestrate.decorators.datacoves_dbt import SCRATCH_PREFIX

pytestmark = pytest.mark.scheduler

DAG_ID = "killed_dbt_task"  # tests/scheduler/dags/killed_dbt_task.py
TASK_ID = "dbt_build"
# Seconds into a try at which it is killed: start-up, the download, dbt starting and parsing (a try
# takes ~10 s here). The upload, a fraction of a second at the end, is killed in
# tests/orchestrate/test_dbt_api_kill.py, where its timing can be hit on purpose.
KILL_AFTER = [0.2 + 0.5 * i for i in range(10)]
TRY_TIMEOUT = 120


def task_process(ti_id: str) -> psutil.Process | None:
    """The process running a try: Airflow titles it `airflow worker -- <task instance id>`."""
    for process in psutil.process_iter(["cmdline"]):
        title = " ".join(process.info["cmdline"] or []).strip()
        if title.startswith("airflow worker -- ") and title.endswith(ti_id) and "LocalExecutor" not in title:
            return process
    return None


def running_try(server, run_id: str, try_number: int):
    """Wait for `try_number` to be running and its process to exist; return (process, ti id)."""
    path = f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{TASK_ID}"
    deadline = time.monotonic() + TRY_TIMEOUT
    while time.monotonic() < deadline:
        server.check_running()
        ti = server.call("GET", path)
        if ti["try_number"] == try_number and ti["state"] == "running" and (process := task_process(ti["id"])):
            return process
        if ti["try_number"] > try_number or ti["state"] in ("success", "failed"):
            titles = [" ".join(p.info["cmdline"] or []) for p in psutil.process_iter(["cmdline"])]
            workers = [t for t in titles if "airflow worker" in t]
            raise AssertionError(
                f"try {try_number} never seen running: the task is {ti['state']} on try {ti['try_number']} "
                f"(id {ti['id']}); worker processes: {workers}"
            )
        time.sleep(0.1)
    raise TimeoutError(f"try {try_number} did not start within {TRY_TIMEOUT} s")


@pytest.fixture(scope="module")
def killed_run(airflow_server):
    """One run: try 1 fails by itself, tries 2..11 are killed, the rest may run to the end."""
    run_id = airflow_server.trigger(DAG_ID)
    killed = []
    for offset, delay in enumerate(KILL_AFTER):
        try_number = offset + 2
        process = running_try(airflow_server, run_id, try_number)
        time.sleep(delay)  # the fault's timing, not a wait for something to happen
        if process.is_running():
            process.send_signal(signal.SIGKILL)
            killed.append(try_number)
    state = airflow_server.wait(DAG_ID, run_id, timeout=TRY_TIMEOUT * 2)
    return run_id, state, killed


def test_the_run_survives_every_kill_and_ends_green(killed_run, airflow_server):
    run_id, state, killed = killed_run
    tries = airflow_server.tries(DAG_ID, run_id, TASK_ID)

    assert state == "success"
    assert killed == [n + 2 for n in range(len(KILL_AFTER))]
    assert [tries[n].state for n in killed] == ["failed"] * len(killed)
    assert tries[max(tries)].state == "success"


def test_nothing_stored_is_torn(killed_run, airflow_server):
    run_id, _, _ = killed_run
    stored = Path(airflow_server.store.task_path(TaskKey(DAG_ID, run_id, TASK_ID)).path)

    files = [path for path in stored.rglob("*.json") if not path.name.startswith(".")]

    assert files
    for path in files:
        json.loads(path.read_bytes())  # a torn file fails to parse


def test_the_last_try_retries_from_the_newest_complete_results_and_says_so(killed_run, airflow_server):
    run_id, _, _ = killed_run
    key = TaskKey(DAG_ID, run_id, TASK_ID)
    store = airflow_server.store
    last = max(store.tries(key))
    source = store.latest_try_with(key, "run_results.json", before=last)
    source_results = node_results(store.read_bytes(key, source, "run_results.json"))
    errored = {r.unique_id for r in source_results if r.status == "error"}
    manifest = store.read_bytes(key, last, "manifest.json")

    ran = {r.unique_id for r in node_results(store.read_bytes(key, last, "run_results.json"))}

    assert ran == descendants(manifest, errored)
    log = next(airflow_server.home.glob(f"logs/dag_id={DAG_ID}/run_id={run_id}/task_id={TASK_ID}/attempt={last}.log"))
    assert f"from try {source} into logs/" in log.read_text()


def test_no_killed_try_leaves_dbt_running_or_its_folder_behind(killed_run):
    leftovers = [
        path
        for path in Path(tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*_*")
        if not psutil.pid_exists(int(path.name[len(SCRATCH_PREFIX) :].split("_", 1)[0]))
    ]
    dbt_running = [
        process.info["cmdline"]
        for process in psutil.process_iter(["cmdline"])
        if any(word.endswith("/dbt") for word in process.info["cmdline"] or [])
    ]

    assert leftovers == []
    assert dbt_running == []

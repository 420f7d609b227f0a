"""SIGKILL a dbt task's process at points across its tries, under a real scheduler.

Each trial waits for the next try to be running and kills its task process: after a chosen time
(task start-up, the download, dbt starting, parsing, building), or as soon as the try has begun to
upload its artifacts. Airflow's own retry machinery starts the next try. Afterwards: the run is
green, nothing stored is torn, each try retried from the newest complete results and said so, and
no killed try left its dbt running, its folder, or a temporary file in the store.
"""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import msgpack
import psutil
import pytest

from orchestrate import scratch
from orchestrate.dbt_api import PARTIAL, TaskKey
from orchestrate.dbt_results import descendants, node_results

pytestmark = pytest.mark.scheduler

DAG_ID = "killed_dbt_task"  # proof/scheduler/dags/killed_dbt_task.py
TASK_ID = "dbt_build"
UPLOAD = "upload"  # kill the try while it uploads its biggest file (its temporary file is in the store)
BALLAST = "ballast.bin"  # the big file the DAG's retries upload before run_results.json
# When each trial kills its try: seconds into it (start-up, the download, dbt starting, parsing and
# building; a retry's dbt ends ~5 s in here, so the last kill keeps a margin before it), every
# third trial during the upload instead. 20 trials.
TIMED = [0.2 + 0.25 * i for i in range(14)]
TRIALS = [when for i, delay in enumerate(TIMED) for when in ([delay, UPLOAD] if i % 2 and i < 12 else [delay])]
TRY_TIMEOUT = 120
UPLOAD_POLL = 0.005  # the 128 MiB upload takes ~0.25 s here


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


def ballast_being_written(folder: Path) -> bool:
    """The big file is half-written in the try's folder of the store (its temporary name is there)."""
    return folder.is_dir() and any(PARTIAL.match(n) and n.startswith(f".{BALLAST}.") for n in os.listdir(folder))


def uploading(folder: Path, process: psutil.Process) -> bool:
    """Wait until the try is writing the big file into the store; False if the try ended first."""
    deadline = time.monotonic() + TRY_TIMEOUT
    while time.monotonic() < deadline and process.is_running():
        if ballast_being_written(folder):
            return True
        time.sleep(UPLOAD_POLL)
    return False


@dataclass
class KilledRun:
    run_id: str
    state: str
    killed: list[int]  # the tries that were killed, in order
    mid_upload: list[int]  # of those, the ones killed with a file half-written in the store


@pytest.fixture(scope="module")
def killed_run(airflow_server) -> KilledRun:
    """One run: try 1 fails by itself, tries 2..21 are killed, the rest may run to the end."""
    run_id = airflow_server.trigger(DAG_ID)
    key = TaskKey(DAG_ID, run_id, TASK_ID)
    killed, mid_upload = [], []
    for offset, when in enumerate(TRIALS):
        try_number = offset + 2
        process = running_try(airflow_server, run_id, try_number)
        folder = Path(airflow_server.store.try_path(key, try_number).path)
        if when == UPLOAD:
            if not uploading(folder, process):
                continue  # the try ended without uploading: not killed, and the test says so
        else:
            time.sleep(when)  # the fault's timing, not a wait for something to happen
        if process.is_running():
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
            killed.append(try_number)
            if ballast_being_written(folder):
                mid_upload.append(try_number)
    state = airflow_server.wait(DAG_ID, run_id, timeout=TRY_TIMEOUT * 2)
    return KilledRun(run_id, state, killed, mid_upload)


def attempt_log(server, run_id: str, try_number: int) -> str:
    path = server.home / f"logs/dag_id={DAG_ID}/run_id={run_id}/task_id={TASK_ID}/attempt={try_number}.log"
    return path.read_text() if path.is_file() else ""


def test_the_run_survives_every_kill_and_ends_green(killed_run, airflow_server):
    tries = airflow_server.tries(DAG_ID, killed_run.run_id, TASK_ID)

    assert killed_run.state == "success"
    assert killed_run.killed == [n + 2 for n in range(len(TRIALS))]
    assert [tries[n].state for n in killed_run.killed] == ["failed"] * len(TRIALS)
    assert tries[max(tries)].state == "success"


def test_the_upload_trials_killed_tries_in_the_middle_of_their_upload(killed_run):
    assert len(killed_run.mid_upload) == TRIALS.count(UPLOAD)


def test_nothing_stored_is_torn_and_no_temporary_file_is_left(killed_run, airflow_server):
    stored = Path(airflow_server.store.task_path(TaskKey(DAG_ID, killed_run.run_id, TASK_ID)).path)
    files = [path for path in stored.rglob("*") if path.is_file()]

    assert [path for path in files if path.name.startswith(".")] == []
    assert {path.name for path in files} >= {"run_results.json", "manifest.json", BALLAST}
    for path in files:  # a torn file has the wrong size or fails to parse
        if path.name == BALLAST:
            assert path.stat().st_size == 128 * 2**20
        elif path.suffix == ".msgpack":
            msgpack.unpackb(path.read_bytes(), strict_map_key=False)  # dbt's partial parse
        else:
            json.loads(path.read_bytes())


def test_a_try_killed_mid_upload_leaves_no_results_to_retry_from(killed_run, airflow_server):
    key = TaskKey(DAG_ID, killed_run.run_id, TASK_ID)
    store = airflow_server.store

    for try_number in killed_run.mid_upload:
        assert not (store.try_path(key, try_number) / "run_results.json").exists()


def test_every_try_retries_from_the_newest_complete_results_and_says_so(killed_run, airflow_server):
    key = TaskKey(DAG_ID, killed_run.run_id, TASK_ID)
    store = airflow_server.store
    last = max(airflow_server.tries(DAG_ID, killed_run.run_id, TASK_ID))
    sources = {n: store.latest_try_with(key, "run_results.json", before=n) for n in range(2, last + 1)}
    logs = {n: attempt_log(airflow_server, killed_run.run_id, n) for n in range(2, last + 1)}
    said = {n: f"from try {sources[n]} into logs/" in logs[n] for n in logs if "into logs/" in logs[n]}

    # Tries killed in their first moments log nothing of it; every other one names the right try.
    assert last in said
    assert all(said.values()), said
    source_results = node_results(store.read_bytes(key, sources[last], "run_results.json"))
    errored = {r.unique_id for r in source_results if r.status == "error"}
    manifest = store.read_bytes(key, last, "manifest.json")
    ran = {r.unique_id for r in node_results(store.read_bytes(key, last, "run_results.json"))}
    assert ran == descendants(manifest, errored)


def test_no_killed_try_leaves_dbt_running_or_its_folder_behind(killed_run, airflow_server):
    root = scratch.scratch_root()  # this session's temp folder, which the test Airflow uses too
    folders = sorted(root.iterdir()) if root.is_dir() else []
    dbt_running = [
        " ".join(process.cmdline())
        for process in airflow_server.our_processes()
        if any(word.endswith("/dbt") for word in process.cmdline())
    ]

    assert folders == []
    assert dbt_running == []
